import type { Generated } from 'kysely'
import type { AtUriString, DidString } from '@atproto/syntax'

/**
 * Counts kept exact by the indexer in the transaction that changes them. A row may exist
 * before its subject is indexed (a like that arrived before its post).
 */
export interface RecordAggTable {
  /**
   * Stands for `uri` in the like and repost indexes (their `subjectId`), given in
   * the order records are first counted; a row is never deleted.
   */
  id: Generated<number>
  uri: AtUriString
  likeCount: number
  repostCount: number
  replyCount: number
  quoteCount: number
}

export interface ActorAggTable {
  did: DidString
  followersCount: number
  followsCount: number
  postsCount: number
  listsCount: number
  feedgensCount: number
}
