import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'
import type { AppViewDb } from '../db/index.ts'
import { inList } from '../db/sql.ts'
import type { SubjectIdTable } from '../db/pair-tables.ts'

/** The distinct ids not yet in `known` (a hydration step loads each thing once per request). */
export const missing = <T>(ids: Iterable<T>, known: { has(k: T): boolean }): T[] => [...new Set(ids)].filter((id) => !known.has(id))

/**
 * The earliest (sortAt, then uri) row per key: which of an actor's duplicate
 * follows/likes/blocks of one subject a view names. Picked here rather than
 * with ORDER BY sortAt, which makes SQLite walk the creator's (sortAt) index
 * instead of probing the (creator, subject) pair index once per subject.
 */
export const earliestBy = <K, R extends { sortAt: string; uri: string }>(rows: R[], key: (r: R) => K): Map<K, R> => {
  const m = new Map<K, R>()
  for (const r of rows) {
    const k = key(r)
    const cur = m.get(k)
    if (!cur || r.sortAt < cur.sortAt || (r.sortAt === cur.sortAt && r.uri < cur.uri)) m.set(k, r)
  }
  return m
}

/**
 * The viewer's likes or reposts of these records: each record's `record_agg`
 * id by its URI, then one probe of the pair index (creator, subjectId, sortAt)
 * per id, and the row it names (by id) for the URI. A CROSS JOIN, because
 * SQLite takes its left side as the outer loop: given the choice, with no
 * statistics it would rather walk every like the viewer made once.
 */
export const viewerPairsQuery = (db: AppViewDb, table: SubjectIdTable, viewer: DidString, uris: AtUriString[]) =>
  db.kysely
    .selectFrom('record_agg')
    .crossJoin(`${table} as pair`)
    .select(['record_agg.uri as subject', 'pair.uri as uri', 'pair.sortAt as sortAt'])
    .where('record_agg.uri', 'in', inList(uris))
    .where('pair.creator', '=', viewer)
    .whereRef('pair.subjectId', '=', 'record_agg.id')

export const viewerPairs = async (
  db: AppViewDb,
  table: SubjectIdTable,
  viewer: DidString,
  uris: AtUriString[],
): Promise<{ subject: AtUriString; uri: AtUriString; sortAt: DatetimeString }[]> => {
  const rows = await viewerPairsQuery(db, table, viewer, uris).execute()
  return rows.map((r) => ({ subject: r.subject as AtUriString, uri: r.uri, sortAt: r.sortAt }))
}
