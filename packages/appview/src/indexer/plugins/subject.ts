import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'
import type { NewNotification } from '../writer.ts'
import type { IndexWriter } from '../writer.ts'
import { compactPairJson, isSubjectIdTable, pairColumn, recordKeyOf, rowByUri, type PairTable } from '../../db/pair-tables.ts'

export type SubjectRow = { uri: AtUriString; cid: string; creator: DidString; subject: string; sortAt: DatetimeString }

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
): { inserted: boolean; firstOfPair: boolean } => {
  const byId = isSubjectIdTable(table)
  // likes and reposts name their subject by its record_agg id (db/migrations/002-subject-ids.ts),
  // follows and blocks by its DID; every pair table is unique by (creator, rkey) (db/pair-tables.ts)
  const pairKey = byId ? w.subjectId(row.subject) : row.subject
  const rkey = recordKeyOf(row.uri)!.rkey
  // asked before the insert: the pair index answers it from one page
  const others = w.exists(`SELECT 1 FROM "${table}" WHERE creator = ? AND ${pairColumn(table)} = ? AND rkey <> ?`, row.creator, pairKey, rkey)
  const columns: [string, unknown][] = [
    ['creator', row.creator],
    ['rkey', rkey],
    ...(byId ? [['subjectId', pairKey], ['subjectCid', row.subjectCid ?? '']] as [string, unknown][] : []),
    ['cid', row.cid],
    ['subject', row.subject],
    ['json', compactPairJson(table, row.json, row)],
    ['createdAt', row.createdAt],
    ['indexedAt', row.indexedAt],
    ['sortAt', row.sortAt],
  ]
  const inserted =
    w.run(
      `INSERT INTO "${table}" (${columns.map(([c]) => c).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})
       ON CONFLICT (creator, rkey) DO NOTHING`,
      ...columns.map(([, v]) => v),
    ) > 0
  return { inserted, firstOfPair: inserted && !others }
}

/** Deletes a record of a pair; `lastOfPair` when no other record of the same pair remains. */
export const deleteSubjectRow = (
  w: IndexWriter,
  table: PairTable,
  uri: string,
): { row: SubjectRow; lastOfPair: boolean; remaining: SubjectRow | undefined } | null => {
  const column = pairColumn(table)
  const key = rowByUri(table, uri)
  const row = w.get<SubjectRow & { pairKey: string | number }>(`SELECT uri, cid, creator, subject, sortAt, ${column} AS pairKey FROM "${table}" WHERE ${key.where}`, ...key.params)
  if (!row) return null
  w.run(`DELETE FROM "${table}" WHERE ${key.where}`, ...key.params)
  // the earliest left of the pair
  const remaining = w.get<SubjectRow>(
    `SELECT uri, cid, creator, subject, sortAt FROM "${table}" WHERE creator = ? AND ${column} = ? ORDER BY sortAt, id LIMIT 1`,
    row.creator,
    row.pairKey,
  )
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
