import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'

/**
 * Indexed records as JSON (views return records as they were written), and
 * every refused one. Likes, reposts, follows, blocks and list items — most
 * records — keep their JSON in their own rows instead (see plugin `table`).
 */
export interface RecordTable {
  uri: AtUriString
  cid: string
  did: DidString
  collection: string
  rkey: string
  /** the record in the atproto JSON encoding ('{}' when refused) */
  json: string
  /**
   * Why the indexer refused this version of the record (a skip reason), or
   * null. Kept so a resync does not try (and count) the same refusal again.
   */
  refusal: string | null
  indexedAt: DatetimeString
}
