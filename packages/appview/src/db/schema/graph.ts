import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'

export interface ListTable {
  uri: AtUriString
  cid: string
  creator: DidString
  name: string
  purpose: string
  description: string | null
  avatarCid: string | null
  createdAt: DatetimeString
  indexedAt: DatetimeString
  sortAt: DatetimeString
}

export interface ListItemTable {
  uri: AtUriString
  cid: string
  creator: DidString
  listUri: AtUriString
  subject: DidString
  /** the record as written (kept here rather than in `record`) */
  json: string
  createdAt: DatetimeString
  indexedAt: DatetimeString
  sortAt: DatetimeString
}

/** Mutes are private to the viewer and live only here (app.bsky.graph.muteActor). */
export interface MuteTable {
  muter: DidString
  subject: DidString
  createdAt: DatetimeString
}
