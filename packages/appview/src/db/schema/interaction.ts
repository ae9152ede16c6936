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

/** Likes and reposts: `subjectId` is the subject's `record_agg.id`, what their indexes are keyed by. */
export interface LikeTable extends SubjectRecord<AtUriString> {
  subjectId: number
  subjectCid: string
}
export interface RepostTable extends SubjectRecord<AtUriString> {
  subjectId: number
  subjectCid: string
}
/** subject = the followed DID */
export type FollowTable = SubjectRecord<DidString>
/** subject = the blocked DID */
export type BlockTable = SubjectRecord<DidString>
