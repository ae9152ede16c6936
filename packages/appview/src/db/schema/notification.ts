import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'

export interface NotificationTable {
  id: number
  recipient: DidString
  author: DidString
  recordUri: AtUriString
  recordCid: string
  reason: 'like' | 'repost' | 'follow' | 'reply' | 'mention' | 'quote'
  reasonSubject: AtUriString | null
  sortAt: DatetimeString
}

export interface NotificationSeenTable {
  did: DidString
  seenAt: DatetimeString
}
