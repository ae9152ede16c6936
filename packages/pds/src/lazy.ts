/**
 * A value built at its first use, once: every caller gets the same promise.
 * A failed build is forgotten, so the next call tries again. For what only
 * some requests need (the OAuth provider and its routes, the handle
 * resolver): imported at start it would be memory every process pays.
 */
export const lazy = <T>(build: () => Promise<T>): (() => Promise<T>) => {
  let value: Promise<T> | undefined
  return () =>
    (value ??= build().catch((err: unknown) => {
      value = undefined
      throw err
    }))
}
