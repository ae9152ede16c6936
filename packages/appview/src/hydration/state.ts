import { jsonToLex } from '@atproto/lex-json'
import type { LexMap } from '@atproto/lex-data'
import type { AtUriString, DatetimeString, DidString, HandleString } from '@atproto/syntax'
import type { app } from '@atsuite/lexicon'

/**
 * A stored record's JSON as its lexicon type. The indexer validated it
 * against its lexicon before storing it (plugins' `parse`), so the type
 * parameter states what the `record` table guarantees; nothing else reads
 * records back.
 */
export const storedRecord = <T extends LexMap>(json: string): T => jsonToLex(JSON.parse(json)) as T

export type ProfileState = {
  did: DidString
  handle: HandleString | null
  /** null = active; anything else hides the account's content */
  status: string | null
  indexedAt: DatetimeString
  profile: {
    uri: AtUriString
    cid: string
    record: app.bsky.actor.profile.Main
    indexedAt: DatetimeString
  } | null
}

export type ActorCounts = {
  followersCount: number
  followsCount: number
  postsCount: number
  listsCount: number
  feedgensCount: number
}

/** The viewer's relationship to one actor. */
export type ActorViewer = {
  following?: AtUriString
  followedBy?: AtUriString
  blocking?: AtUriString
  blockedBy: boolean
  muted: boolean
}

export type PostState = {
  uri: AtUriString
  cid: string
  creator: DidString
  record: app.bsky.feed.post.Main
  indexedAt: DatetimeString
  sortAt: DatetimeString
}

export type RecordCounts = { likeCount: number; repostCount: number; replyCount: number; quoteCount: number }

export type PostViewer = { like?: AtUriString; repost?: AtUriString }

export type GateState<R> = { uri: AtUriString; cid: string; record: R }

export type FeedGenState = {
  uri: AtUriString
  cid: string
  creator: DidString
  feedDid: DidString
  record: app.bsky.feed.generator.Main
  indexedAt: DatetimeString
}

export type ListState = {
  uri: AtUriString
  cid: string
  creator: DidString
  record: app.bsky.graph.list.Main
  indexedAt: DatetimeString
  itemCount: number
}

/** A stored record as it was written (notifications show the record that caused them). */
export type RecordState = { uri: AtUriString; cid: string; record: LexMap }

export type HydrateCtx = {
  viewer: DidString | null
}

/**
 * Everything a view needs, loaded in batches before any view is built.
 * `null` in a map = looked up and not found (or hidden); absent = not asked.
 */
export class HydrationState {
  readonly ctx: HydrateCtx
  readonly actors = new Map<DidString, ProfileState | null>()
  readonly actorCounts = new Map<DidString, ActorCounts>()
  readonly actorViewers = new Map<DidString, ActorViewer>()
  readonly posts = new Map<AtUriString, PostState | null>()
  readonly recordCounts = new Map<AtUriString, RecordCounts>()
  readonly postViewers = new Map<AtUriString, PostViewer>()
  readonly threadgates = new Map<AtUriString, GateState<app.bsky.feed.threadgate.Main>>()
  readonly postgates = new Map<AtUriString, GateState<app.bsky.feed.postgate.Main>>()
  readonly feedGens = new Map<AtUriString, FeedGenState | null>()
  readonly lists = new Map<AtUriString, ListState | null>()
  /** feed generators and lists the viewer liked */
  readonly recordViewerLikes = new Map<AtUriString, AtUriString>()
  readonly records = new Map<AtUriString, RecordState | null>()
  /** pairs of actors with a block between them, either way (see `blockedBetween`); only pairs asked about */
  readonly blockPairs = new Set<string>()

  constructor(ctx: HydrateCtx) {
    this.ctx = ctx
  }

  get viewer(): DidString | null {
    return this.ctx.viewer
  }

  /** An actor whose content may be shown (known, active). */
  activeActor(did: DidString): ProfileState | null {
    const a = this.actors.get(did)
    return a && a.status === null ? a : null
  }

  /** Blocked in either direction between the viewer and `did`. */
  blockedWith(did: DidString): boolean {
    const v = this.actorViewers.get(did)
    return !!v && (v.blocking !== undefined || v.blockedBy)
  }

  /** Blocked in either direction between two actors (not the viewer: see `blockedWith`). */
  blockedBetween(a: DidString, b: DidString): boolean {
    return this.blockPairs.has(blockPairKey(a, b))
  }

  muted(did: DidString): boolean {
    return this.actorViewers.get(did)?.muted ?? false
  }
}

/** The key of an unordered pair of actors. */
export const blockPairKey = (a: DidString, b: DidString): string => (a < b ? `${a} ${b}` : `${b} ${a}`)
