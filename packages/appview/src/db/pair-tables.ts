import { sql, type RawBuilder, type SqlBool } from 'kysely'

/**
 * Likes, reposts, follows and blocks: one actor → one subject, a table each
 * (indexer/plugins/subject.ts). Each is a rowid table (`id`, given in indexing
 * order, so new rows append at its end: migration 004), unique by
 * (creator, rkey), with `uri` a column computed from those two (migrations
 * 003, 004). Records of one pair with the same `sortAt` are ordered by `id`, which
 * every index entry carries.
 */
export type PairTable = 'like' | 'repost' | 'follow' | 'block'

/** Tables that keep a collection's records themselves (the pair tables and list items); the rest are in `record`. */
export type OwnTable = PairTable | 'list_item'

/**
 * The pair tables whose subject is a record, named in their indexes by its
 * `record_agg.id` (migration 002). Follows' and blocks' subject is a DID.
 */
export type SubjectIdTable = 'like' | 'repost'

export const isPairTable = (table: string): table is PairTable => table === 'like' || table === 'repost' || table === 'follow' || table === 'block'

export const isSubjectIdTable = (table: string): table is SubjectIdTable => table === 'like' || table === 'repost'

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

/** A pair record's (creator, rkey) from its URI (`at://<creator>/<collection>/<rkey>`); null for anything else. */
export const recordKeyOf = (uri: string): { creator: string; rkey: string } | null => {
  if (!uri.startsWith('at://')) return null
  const slash = uri.indexOf('/', 5)
  const last = uri.lastIndexOf('/')
  if (slash < 0 || last <= slash || last === uri.length - 1) return null
  return { creator: uri.slice(5, slash), rkey: uri.slice(last + 1) }
}

/**
 * Rows of a pair table by URI: `(creator, rkey) IN (…)`, one probe of the key
 * index per URI (`uri` is computed, so it has no index); a URI of another
 * shape matches nothing. The keys are one bound JSON array, so the SQL text is
 * the same whatever their number (see `inList` in sql.ts). The caller picks
 * the table by the URIs' collection.
 */
export const whereUris = (uris: Iterable<string>): RawBuilder<SqlBool> => {
  const keys = [...new Set(uris)].flatMap((uri) => {
    const k = recordKeyOf(uri)
    return k ? [[k.creator, k.rkey]] : []
  })
  return sql<SqlBool>`(${sql.ref('creator')}, ${sql.ref('rkey')}) IN (SELECT value ->> 0, value ->> 1 FROM json_each(${JSON.stringify(keys)}))`
}

/** The condition naming one row of a table by its URI (raw SQL for the indexer's prepared statements), and its parameters. */
export const rowByUri = (table: string, uri: string): { where: string; params: string[] } => {
  if (!isPairTable(table)) return { where: 'uri = ?', params: [uri] }
  const k = recordKeyOf(uri)
  return k ? { where: 'creator = ? AND rkey = ?', params: [k.creator, k.rkey] } : { where: '1 = 0', params: [] }
}
