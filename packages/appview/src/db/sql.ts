import { sql, type RawBuilder } from 'kysely'

/**
 * `IN` over a list as one bound JSON array (`IN (SELECT value FROM json_each(?))`):
 * the SQL text is the same whatever the list's length, so its statement is
 * prepared once, where `IN (?, ?, …)` is a new statement for every length (a
 * page of 1 to 100 items, a dozen hydration queries: more texts than the
 * statement cache keeps, so every request prepared several).
 */
export const inList = <T extends string>(values: readonly T[]): RawBuilder<T> => sql<T>`(SELECT value FROM json_each(${JSON.stringify(values)}))`
