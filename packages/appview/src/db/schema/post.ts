import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'

export interface PostTable {
  uri: AtUriString
  cid: string
  creator: DidString
  text: string
  createdAt: DatetimeString
  indexedAt: DatetimeString
  /** min(createdAt, indexedAt): what feeds sort by */
  sortAt: DatetimeString
  replyRoot: AtUriString | null
  replyRootCid: string | null
  replyParent: AtUriString | null
  replyParentCid: string | null
  /** the record this post quotes (embed record / recordWithMedia) */
  quoteUri: AtUriString | null
  quoteCid: string | null
  /** 1 when the post embeds images or video (author feed `posts_with_media`) */
  hasMedia: number
  /** 1 when the post embeds video (author feed `posts_with_video`) */
  hasVideo: number
  langs: string | null
}

/** Posts and reposts as they appear in feeds, keyed by the post's or repost's URI. */
export interface FeedItemTable {
  uri: AtUriString
  postUri: AtUriString
  /** who put it in feeds: the author of a post, the reposter of a repost */
  originator: DidString
  type: 'post' | 'repost'
  /** 1 for a post that is a reply (author feed `posts_no_replies`) */
  isReply: number
  sortAt: DatetimeString
}
