import type { Generated, GeneratedAlways } from 'kysely'
import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'

/**
 * Shape shared by likes, reposts, follows and blocks: one actor pointing at a
 * subject. Rowid tables (`id`, given in indexing order: migration 004),
 * unique by (creator, rkey), `uri` computed from those two.
 */
interface SubjectRecord<S> {
  id: Generated<number>
  uri: GeneratedAlways<AtUriString>
  creator: DidString
  rkey: string
  cid: string
  subject: S
  /** the record as written (kept here rather than in `record`); '' when the columns rebuild it (db/pair-tables.ts) */
  json: string
  createdAt: DatetimeString
  indexedAt: DatetimeString
  sortAt: DatetimeString
}

/** Likes and reposts: `subjectId` is the subject's `record_agg.id`, what their indexes are keyed by (migration 002). */
export interface LikeTable extends SubjectRecord<AtUriString> {
  subjectId: number
  subjectCid: string
}
export type RepostTable = LikeTable
/** subject = the followed DID */
export type FollowTable = SubjectRecord<DidString>
/** subject = the blocked DID */
export type BlockTable = SubjectRecord<DidString>
