import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'

export interface FeedGeneratorTable {
  uri: AtUriString
  cid: string
  creator: DidString
  /** the generator service's DID (getFeedSkeleton is called there) */
  feedDid: DidString
  displayName: string
  description: string | null
  avatarCid: string | null
  createdAt: DatetimeString
  indexedAt: DatetimeString
  sortAt: DatetimeString
}

/** Threadgates and postgates: rules a post's author set, keyed by the post they govern. */
export interface GateTable {
  /** the gated post */
  postUri: AtUriString
  kind: 'threadgate' | 'postgate'
  uri: AtUriString
  cid: string
  creator: DidString
}
