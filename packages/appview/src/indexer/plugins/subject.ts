import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'
import type { NewNotification } from '../writer.ts'
import type { IndexWriter } from '../writer.ts'
import { compactPairJson, isSubjectIdTable, pairColumn, recordKeyOf, type PairTable } from '../../db/pair-tables.ts'

export type SubjectRow = { uri: AtUriString; cid: string; creator: DidString; subject: string; sortAt: DatetimeString }

/**
 * The statements of each pair table, written once: the writer finds a
 * prepared statement by its SQL text, and a text built anew per record cost
 * ~2.6 µs of building, hashing and comparing each time (likes and follows are
 * most events).
 */
const statements = (table: PairTable) => {
  const pair = pairColumn(table)
  // likes and reposts add their subject's id and CID, last (insertSubjectRow passes them so)
  const columns = ['creator', 'rkey', 'cid', 'subject', 'json', 'createdAt', 'indexedAt', 'sortAt', ...(isSubjectIdTable(table) ? ['subjectId', 'subjectCid'] : [])]
  return {
    // asked before the insert: the pair index answers it from one page
    others: `SELECT 1 FROM "${table}" WHERE creator = ? AND ${pair} = ? AND rkey <> ?`,
    insert: `INSERT INTO "${table}" (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT (creator, rkey) DO NOTHING`,
    byKey: `SELECT uri, cid, creator, subject, sortAt, ${pair} AS pairKey FROM "${table}" WHERE creator = ? AND rkey = ?`,
    deleteByKey: `DELETE FROM "${table}" WHERE creator = ? AND rkey = ?`,
    // the earliest left of a pair
    earliest: `SELECT uri, cid, creator, subject, sortAt FROM "${table}" WHERE creator = ? AND ${pair} = ? ORDER BY sortAt, id LIMIT 1`,
  }
}
const SQL: Record<PairTable, ReturnType<typeof statements>> = {
  like: statements('like'),
  repost: statements('repost'),
  follow: statements('follow'),
  block: statements('block'),
}

/**
 * Likes, reposts, follows and blocks are "one actor → one subject" records.
 * A second record of the same pair (a duplicate like) is stored but counts
 * once: these helpers say whether a record is the first of its pair on
 * insert, and whether it was the last on delete, so aggregates stay exact
 * whatever the order of arrival.
 */
export const insertSubjectRow = (
  w: IndexWriter,
  table: PairTable,
  row: SubjectRow & { subjectCid?: string; json: string; createdAt: string; indexedAt: string },
): { inserted: boolean; firstOfPair: boolean; pairKey: string | number } => {
  const sql = SQL[table]
  // likes and reposts name their subject by its record_agg id (db/migrations/002-subject-ids.ts),
  // follows and blocks by its DID; every pair table is unique by (creator, rkey) (db/pair-tables.ts)
  const byId = isSubjectIdTable(table)
  const pairKey = byId ? w.subjectId(row.subject) : row.subject
  const rkey = recordKeyOf(row.uri)!.rkey
  const others = w.exists(sql.others, row.creator, pairKey, rkey)
  const json = compactPairJson(table, row.json, row)
  const bySubjectId = byId ? [pairKey, row.subjectCid ?? ''] : []
  const inserted = w.run(sql.insert, row.creator, rkey, row.cid, row.subject, json, row.createdAt, row.indexedAt, row.sortAt, ...bySubjectId) > 0
  return { inserted, firstOfPair: inserted && !others, pairKey }
}

/** Deletes a record of a pair; `lastOfPair` when no other record of the same pair remains. */
export const deleteSubjectRow = (
  w: IndexWriter,
  table: PairTable,
  uri: string,
): { row: SubjectRow; lastOfPair: boolean; remaining: SubjectRow | undefined } | null => {
  const sql = SQL[table]
  const key = recordKeyOf(uri)
  if (!key) return null
  const row = w.get<SubjectRow & { pairKey: string | number }>(sql.byKey, key.creator, key.rkey)
  if (!row) return null
  w.run(sql.deleteByKey, key.creator, key.rkey)
  const remaining = w.get<SubjectRow>(sql.earliest, row.creator, row.pairKey)
  return { row, lastOfPair: !remaining, remaining }
}

/** Collections whose records can be liked or reposted (and notify their author). */
export const isLikeable = (uri: string): boolean =>
  uri.includes('/app.bsky.feed.post/') || uri.includes('/app.bsky.feed.generator/') || uri.includes('/app.bsky.graph.list/')

/**
 * When the record that notified is deleted while a duplicate of its pair
 * remains, the duplicate carries the notification on (the recipient still
 * has that like or follow).
 */
export const handOverNotification = (
  w: IndexWriter,
  deleted: SubjectRow,
  remaining: SubjectRow | undefined,
  n: Pick<NewNotification, 'recipient' | 'reason' | 'reasonSubject'> | null,
): void => {
  if (!n) return
  const removed = w.deleteNotifications(deleted.uri, [n.recipient], deleted.sortAt)
  if (removed === 0 || !remaining) return
  w.notify({ ...n, author: remaining.creator, recordUri: remaining.uri, recordCid: remaining.cid, sortAt: remaining.sortAt })
}
