import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'

/** Shape shared by likes, reposts, follows and blocks: one actor pointing at a subject. */
interface SubjectRecord<S> {
  uri: AtUriString
  cid: string
  creator: DidString
  subject: S
  /** the record as written (kept here rather than in `record`) */
  json: string
  createdAt: DatetimeString
  indexedAt: DatetimeString
  sortAt: DatetimeString
}

export interface LikeTable extends SubjectRecord<AtUriString> {
  subjectCid: string
}
export interface RepostTable extends SubjectRecord<AtUriString> {
  subjectCid: string
}
/** subject = the followed DID */
export type FollowTable = SubjectRecord<DidString>
/** subject = the blocked DID */
export type BlockTable = SubjectRecord<DidString>
