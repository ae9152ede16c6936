import type { AtUriString, DidString } from '@atproto/syntax'
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
 * The viewer's likes or reposts of these records: one probe of the pair index
 * (creator, subjectId) per record that has a `record_agg` id.
 */
export const viewerPairs = (db: AppViewDb, table: SubjectIdTable, viewer: DidString, uris: AtUriString[]) =>
  db.kysely
    .selectFrom(table)
    .select(['subject', 'uri'])
    .where('creator', '=', viewer)
    .where('subjectId', 'in', (eb) => eb.selectFrom('record_agg').select('id').where('record_agg.uri', 'in', inList(uris)))
