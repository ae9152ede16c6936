/** The distinct ids not yet in `known` (a hydration step loads each thing once per request). */
export const missing = <T>(ids: Iterable<T>, known: { has(k: T): boolean }): T[] => [...new Set(ids)].filter((id) => !known.has(id))
