/** Likes, reposts, follows and blocks: one actor → one subject, a table each (indexer/plugins/subject.ts). */
export type PairTable = 'like' | 'repost' | 'follow' | 'block'

/** Tables that keep a collection's records themselves (the pair tables and list items); the rest are in `record`. */
export type OwnTable = PairTable | 'list_item'

/** The pair tables whose subject is a record, named in their indexes by its `record_agg.id` (migration 002). */
export type SubjectIdTable = 'like' | 'repost'

export const isPairTable = (table: string): table is PairTable => table === 'like' || table === 'repost' || table === 'follow' || table === 'block'

export const isSubjectIdTable = (table: PairTable): table is SubjectIdTable => table === 'like' || table === 'repost'

/** The column a pair table's pair index has after `creator`: the subject's id, or the subject DID. */
export const pairColumn = (table: PairTable): 'subjectId' | 'subject' => (isSubjectIdTable(table) ? 'subjectId' : 'subject')

/**
 * Likes, reposts, follows and blocks are most of all records, and nearly
 * every one holds exactly its collection's fields. For those the table's
 * `json` column is '' and the record is rebuilt from the row's own columns,
 * byte for byte: the same JSON the indexer was given, DAG-CBOR's key order
 * (shorter keys first). A record with anything more (a `via`, a field this
 * app view does not know) or in another order keeps its JSON as written.
 * A like row was ~600 bytes, ~250 of them that JSON: shorter rows fill
 * fewer pages, and the pages a batch dirties are what it writes to the log.
 */
export type PairRecordFields = { subject: string; subjectCid?: string | null; createdAt: string }

const COLLECTION: Record<PairTable, string> = {
  like: 'app.bsky.feed.like',
  repost: 'app.bsky.feed.repost',
  follow: 'app.bsky.graph.follow',
  block: 'app.bsky.graph.block',
}

const q = JSON.stringify

/** The JSON of a record with just its collection's fields. */
export const pairRecordJson = (table: PairTable, f: PairRecordFields): string => {
  const subject = isSubjectIdTable(table) ? `{"cid":${q(f.subjectCid ?? '')},"uri":${q(f.subject)}}` : q(f.subject)
  return `{"$type":${q(COLLECTION[table])},"subject":${subject},"createdAt":${q(f.createdAt)}}`
}

/** What the `json` column keeps: '' when the columns rebuild the record exactly. */
export const compactPairJson = (table: PairTable, json: string, f: PairRecordFields): string => (json === pairRecordJson(table, f) ? '' : json)

/** The record's JSON from a row. */
export const expandPairJson = (table: PairTable, json: string, f: PairRecordFields): string => (json === '' ? pairRecordJson(table, f) : json)
