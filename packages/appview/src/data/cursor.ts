import { sql, type RawBuilder, type SqlBool } from 'kysely'
import { isAtUriString, isValidDid, toDatetimeString, type AtUriString, type DatetimeString } from '@atproto/syntax'
import { InvalidRequestError } from '../errors.ts'

/**
 * Keyset cursors: `<sortAt as ms>::<tiebreak key>`. Opaque to clients,
 * stable under concurrent inserts (a row's position never moves), and a
 * malformed one is a 400.
 */
export type Keyset<K extends string = string> = { sortAt: DatetimeString; key: K }

export const encodeCursor = (sortAt: string, key: string | number): string => `${Date.parse(sortAt)}::${key}`

/** The datetime a cursor's milliseconds stand for; null when out of the atproto datetime range. */
const cursorDatetime = (ms: number): DatetimeString | null => {
  try {
    return toDatetimeString(new Date(ms))
  } catch {
    return null
  }
}

export const decodeCursor = <K extends string>(cursor: string | undefined, isKey: (s: string) => s is K): Keyset<K> | undefined => {
  if (cursor === undefined || cursor === '') return undefined
  const sep = cursor.indexOf('::')
  const ms = sep > 0 ? Number(cursor.slice(0, sep)) : NaN
  const key = sep > 0 ? cursor.slice(sep + 2) : ''
  const sortAt = Number.isSafeInteger(ms) && ms >= 0 ? cursorDatetime(ms) : null
  if (sortAt === null || !isKey(key)) throw new InvalidRequestError('Malformed cursor')
  return { sortAt, key }
}

/** A plain numeric offset-free cursor for lists ordered by an integer id. */
export const decodeIdCursor = (cursor: string | undefined): number | undefined => {
  if (cursor === undefined || cursor === '') return undefined
  const n = Number(cursor)
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidRequestError('Malformed cursor')
  return n
}

/** Cursor keys: a row's URI, an integer id, a DID. */
export const isUriKey = (s: string): s is AtUriString => isAtUriString(s)
export const isDidKey = (s: string): s is `did:${string}` => isValidDid(s)
export const isIdKey = (s: string): s is `${number}` => /^[1-9][0-9]{0,15}$/.test(s) && Number.isSafeInteger(Number(s))

/**
 * `(sortCol, keyCol) < (sortAt, key)`: rows after a cursor in a newest-first
 * listing. A row-value comparison (SQLite and PostgreSQL alike), so an index
 * on (…, sortCol, keyCol) serves it as one range.
 */
export const keysetBefore = (sortCol: string, keyCol: string, ks: { sortAt: string; key: string | number }): RawBuilder<SqlBool> =>
  sql<SqlBool>`(${sql.ref(sortCol)}, ${sql.ref(keyCol)}) < (${ks.sortAt}, ${ks.key})`

/** The cursor after a row keyed by its URI. */
export const uriCursor = (row: { sortAt: string; uri: string }): string => encodeCursor(row.sortAt, row.uri)

/** A page of rows ordered by (sortAt, id): the cursor names the last row's id, which the items leave out. */
export const idPageOf = <T extends { sortAt: string; id: number }>(rows: T[], limit: number): { items: Omit<T, 'id'>[]; cursor?: string } => {
  const page = pageOf(rows, limit, (r) => encodeCursor(r.sortAt, r.id))
  return { items: page.items.map(({ id: _, ...row }) => row), cursor: page.cursor }
}

/** A page of rows and the cursor after its last row (none when the page is short: nothing follows). */
export const pageOf = <T>(rows: T[], limit: number, cursorOf: (last: T) => string): { items: T[]; cursor?: string } => {
  const last = rows.at(-1)
  return rows.length >= limit && last ? { items: rows, cursor: cursorOf(last) } : { items: rows }
}
