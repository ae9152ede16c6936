import { getBlobCidString, type BlobRef } from '@atproto/lex-data'
import { INVALID_HANDLE, isValidUri, toDatetimeString, type AtUriString, type DidString, type HandleString, type UriString } from '@atproto/syntax'
import type { l } from '@atproto/lex-schema'
import { app } from '../lexicon/app.ts'
import type { AppContext } from '../context.ts'
import { embeddedRecordViews, embeddedUri, type RecordEmbedView } from './embeds.ts'
import type { LocalPost, LocalRecords } from './local-records.ts'

type Profile = app.bsky.actor.profile.Main
type ProfileViewBasic = app.bsky.actor.defs.ProfileViewBasic
type ProfileViewDetailed = app.bsky.actor.defs.ProfileViewDetailed
type PostView = l.$Typed<app.bsky.feed.defs.PostView>
type ThreadViewPost = l.$Typed<app.bsky.feed.defs.ThreadViewPost>
type EmbedView = NonNullable<app.bsky.feed.defs.PostView['embed']>
type MediaView = app.bsky.embed.recordWithMedia.View['media']

const PROFILE = app.bsky.actor.profile.$type

type Fields = {
  did: DidString
  handle: HandleString
  profile: Profile | null
  createdAt: string | undefined
  publicUrl: string
  /** the user's new posts, by URI (a new post may quote another) */
  local: Map<string, LocalPost>
  /** views of the other records the new posts embed, from the app view */
  embedded: Map<string, RecordEmbedView>
}

/**
 * Views of what the user wrote that the app view has not indexed yet, built
 * from their own repo: their profile as it is now, and their new posts as
 * postViews with zero counts (nobody has seen them yet), images served by
 * this PDS (`com.atproto.sync.getBlob`), quoted records looked up on the app
 * view as the user. Mirrors the app view's views closely enough that a
 * client cannot tell, and always what the lexicons allow.
 */
export class LocalViewer {
  readonly did: DidString
  private readonly handle: HandleString
  private readonly profile: Profile | null
  private readonly createdAt: string | undefined
  private readonly publicUrl: string
  private readonly local: Map<string, LocalPost>
  private readonly embedded: Map<string, RecordEmbedView>

  private constructor(fields: Fields) {
    this.did = fields.did
    this.handle = fields.handle
    this.profile = fields.profile
    this.createdAt = fields.createdAt
    this.publicUrl = fields.publicUrl
    this.local = fields.local
    this.embedded = fields.embedded
  }

  /** Reads the account and its current profile, and looks up the records the new posts embed. */
  static async load(ctx: AppContext, did: DidString, local: LocalRecords): Promise<LocalViewer> {
    const account = await ctx.accounts.getAccount(did)
    let profile = local.profile?.record ?? null
    if (!profile) {
      const stored = ctx.repoReader.getRecord(did, PROFILE, 'self')
      const res = stored ? app.bsky.actor.profile.$safeValidate(stored.value) : null
      profile = res?.success ? res.value : null
    }
    const localPosts = new Map(local.posts.map((p) => [p.uri, p]))
    const remote = local.posts.map((p) => embeddedUri(p.record)).filter((u): u is AtUriString => u !== null && !localPosts.has(u))
    return new LocalViewer({
      did,
      handle: account?.handle ?? INVALID_HANDLE,
      profile,
      createdAt: account?.createdAt,
      publicUrl: ctx.cfg.service.publicUrl,
      local: localPosts,
      embedded: await embeddedRecordViews(ctx, did, remote),
    })
  }

  profileBasic(): ProfileViewBasic {
    const p = this.profile
    const avatar = p?.avatar ? this.blobUrl(p.avatar) : undefined
    const createdAt = p?.createdAt ?? this.createdAt
    return {
      $type: 'app.bsky.actor.defs#profileViewBasic',
      did: this.did,
      handle: this.handle,
      ...(p?.displayName !== undefined ? { displayName: p.displayName } : {}),
      ...(p?.pronouns !== undefined ? { pronouns: p.pronouns } : {}),
      ...(avatar ? { avatar } : {}),
      viewer: { muted: false, blockedBy: false },
      labels: [],
      ...(createdAt ? { createdAt: toDatetimeString(createdAt) } : {}),
    }
  }

  /** A new post as the app view would show it right after indexing (no likes, replies or reposts yet). */
  postView(post: LocalPost): PostView {
    const embed = post.record.embed ? this.embedView(post.record.embed, 0) : undefined
    return {
      $type: 'app.bsky.feed.defs#postView',
      uri: post.uri,
      cid: post.cid,
      author: this.profileBasic(),
      record: post.value,
      ...(embed ? { embed } : {}),
      replyCount: 0,
      repostCount: 0,
      likeCount: 0,
      quoteCount: 0,
      bookmarkCount: 0,
      indexedAt: post.indexedAt,
      viewer: { threadMuted: false, embeddingDisabled: false },
      labels: [],
    }
  }

  /** A new post in a thread: with (still empty) replies below the anchor, without them as a parent. */
  threadViewPost(post: LocalPost, opts: { replies: boolean } = { replies: true }): ThreadViewPost {
    return { $type: 'app.bsky.feed.defs#threadViewPost', post: this.postView(post), ...(opts.replies ? { replies: [] } : {}) }
  }

  /** Whether an actor (DID or handle) is this user. */
  isSelf(actor: string): boolean {
    return actor === this.did || actor.toLowerCase() === this.handle
  }

  /** The user's profile view with what their current profile record says (name, pronouns, avatar). */
  updateBasic(view: ProfileViewBasic): ProfileViewBasic {
    if (view.did !== this.did) return view
    const { displayName: _n, pronouns: _p, avatar: _a, ...rest } = view
    const p = this.profile
    const avatar = p?.avatar ? this.blobUrl(p.avatar) : undefined
    return {
      ...rest,
      ...(p?.displayName !== undefined ? { displayName: p.displayName } : {}),
      ...(p?.pronouns !== undefined ? { pronouns: p.pronouns } : {}),
      ...(avatar ? { avatar } : {}),
    }
  }

  /** updateBasic, and the description, website, banner and pinned post. */
  updateDetailed(view: ProfileViewDetailed): ProfileViewDetailed {
    if (view.did !== this.did) return view
    const { displayName: _n, pronouns: _p, avatar: _a, description: _d, website: _w, banner: _b, pinnedPost: _pp, ...rest } = view
    const p = this.profile
    const avatar = p?.avatar ? this.blobUrl(p.avatar) : undefined
    const banner = p?.banner ? this.blobUrl(p.banner) : undefined
    return {
      ...rest,
      ...(p?.displayName !== undefined ? { displayName: p.displayName } : {}),
      ...(p?.pronouns !== undefined ? { pronouns: p.pronouns } : {}),
      ...(avatar ? { avatar } : {}),
      ...(p?.description !== undefined ? { description: p.description } : {}),
      ...(p?.website !== undefined ? { website: p.website } : {}),
      ...(banner ? { banner } : {}),
      ...(p?.pinnedPost !== undefined ? { pinnedPost: p.pinnedPost } : {}),
    }
  }

  /** Where this PDS serves one of the user's blobs (the app view may not have it yet). */
  private blobUrl(blob: BlobRef): UriString | undefined {
    const url = new URL('/xrpc/com.atproto.sync.getBlob', this.publicUrl)
    url.searchParams.set('did', this.did)
    url.searchParams.set('cid', getBlobCidString(blob))
    const s = url.toString()
    return isValidUri(s) ? s : undefined
  }

  private embedView(e: NonNullable<app.bsky.feed.post.Main['embed']>, depth: number): EmbedView | undefined {
    if (app.bsky.embed.record.$isTypeOf(e)) return this.recordView(e.record.uri, depth)
    if (app.bsky.embed.recordWithMedia.$isTypeOf(e)) {
      const media = this.mediaView(e.media)
      const record = this.recordView(e.record.record.uri, depth)
      return media ? { $type: 'app.bsky.embed.recordWithMedia#view', record, media } : record
    }
    return this.mediaView(e)
  }

  private mediaView(e: NonNullable<app.bsky.feed.post.Main['embed']> | app.bsky.embed.recordWithMedia.Main['media']): MediaView | undefined {
    if (app.bsky.embed.images.$isTypeOf(e)) {
      const images: app.bsky.embed.images.ViewImage[] = []
      for (const img of e.images) {
        const url = this.blobUrl(img.image)
        if (url) images.push({ thumb: url, fullsize: url, alt: img.alt, ...(img.aspectRatio ? { aspectRatio: img.aspectRatio } : {}) })
      }
      return { $type: 'app.bsky.embed.images#view', images }
    }
    if (app.bsky.embed.external.$isTypeOf(e)) {
      const thumb = e.external.thumb ? this.blobUrl(e.external.thumb) : undefined
      const { uri, title, description } = e.external
      return { $type: 'app.bsky.embed.external#view', external: { uri, title, description, ...(thumb ? { thumb } : {}) } }
    }
    if (app.bsky.embed.video.$isTypeOf(e)) {
      const playlist = this.blobUrl(e.video)
      if (!playlist) return undefined
      return {
        $type: 'app.bsky.embed.video#view',
        cid: getBlobCidString(e.video),
        playlist,
        ...(e.alt !== undefined ? { alt: e.alt } : {}),
        ...(e.aspectRatio ? { aspectRatio: e.aspectRatio } : {}),
      }
    }
    return undefined
  }

  /** A quoted record: one of the user's new posts (built here), else what the app view said, else not found. */
  private recordView(uri: AtUriString, depth: number): l.$Typed<app.bsky.embed.record.View> {
    const local = this.local.get(uri)
    let record: RecordEmbedView | undefined = this.embedded.get(uri)
    if (local) {
      const inner = depth < 1 && local.record.embed ? this.embedView(local.record.embed, depth + 1) : undefined
      record = {
        $type: 'app.bsky.embed.record#viewRecord',
        uri,
        cid: local.cid,
        author: this.profileBasic(),
        value: local.value,
        labels: [],
        likeCount: 0,
        repostCount: 0,
        replyCount: 0,
        quoteCount: 0,
        ...(inner ? { embeds: [inner] } : {}),
        indexedAt: local.indexedAt,
      }
    }
    return { $type: 'app.bsky.embed.record#view', record: record ?? { $type: 'app.bsky.embed.record#viewNotFound', uri, notFound: true } }
  }
}
