import type { GeneratedAlways } from 'kysely'
import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'

/** Shape shared by likes, reposts, follows and blocks: one actor pointing at a subject. */
interface SubjectRecord<S> {
  uri: AtUriString
  cid: string
  creator: DidString
  subject: S
  /** the record as written (kept here rather than in `record`); '' when the columns rebuild it (db/pair-tables.ts) */
  json: string
  createdAt: DatetimeString
  indexedAt: DatetimeString
  sortAt: DatetimeString
}

/**
 * Likes and reposts: keyed by (creator, rkey), `uri` computed from them
 * (migration 003); `subjectId` is the subject's `record_agg.id`, what their
 * indexes are keyed by.
 */
export interface LikeTable extends Omit<SubjectRecord<AtUriString>, 'uri'> {
  uri: GeneratedAlways<AtUriString>
  rkey: string
  subjectId: number
  subjectCid: string
}
export type RepostTable = LikeTable
/** subject = the followed DID */
export type FollowTable = SubjectRecord<DidString>
/** subject = the blocked DID */
export type BlockTable = SubjectRecord<DidString>
