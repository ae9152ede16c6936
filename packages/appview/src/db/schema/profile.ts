import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'

export interface ProfileTable {
  did: DidString
  uri: AtUriString
  cid: string
  displayName: string | null
  description: string | null
  avatarCid: string | null
  bannerCid: string | null
  pinnedPost: AtUriString | null
  createdAt: DatetimeString | null
  indexedAt: DatetimeString
}
