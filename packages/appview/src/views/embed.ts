import { blobCid } from './blob.ts'
import type { $Typed } from '@atproto/lex-schema'
import type { AtUriString, DidString } from '@atproto/syntax'
import { app } from '@atsuite/lexicon'
import { profileViewBasic } from './actor.ts'
import type { ViewCtx } from './context.ts'
import { generatorView, listView } from './graph.ts'

type Post = app.bsky.feed.post.Main
type PostEmbed = NonNullable<Post['embed']>
type EmbedView = NonNullable<app.bsky.feed.defs.PostView['embed']>
type MediaView = app.bsky.embed.recordWithMedia.View['media']
type RecordEmbedView = app.bsky.embed.record.View['record']

/** The record a post embeds (a quote, a feed, a list), if any. */
export const embeddedRecordUri = (post: Post): AtUriString | null => {
  const e = post.embed
  if (!e) return null
  if (app.bsky.embed.record.$isTypeOf(e)) return e.record.uri
  if (app.bsky.embed.recordWithMedia.$isTypeOf(e)) return e.record.record.uri
  return null
}

const imagesView = (ctx: ViewCtx, did: DidString, e: app.bsky.embed.images.Main): $Typed<app.bsky.embed.images.View> => ({
  $type: 'app.bsky.embed.images#view',
  images: e.images.map((img) => ({
    thumb: ctx.imageUrl('feed_thumbnail', did, blobCid(img.image)),
    fullsize: ctx.imageUrl('feed_fullsize', did, blobCid(img.image)),
    alt: img.alt,
    ...(img.aspectRatio ? { aspectRatio: img.aspectRatio } : {}),
  })),
})

const externalView = (ctx: ViewCtx, did: DidString, e: app.bsky.embed.external.Main): $Typed<app.bsky.embed.external.View> => ({
  $type: 'app.bsky.embed.external#view',
  external: {
    uri: e.external.uri,
    title: e.external.title,
    description: e.external.description,
    ...(e.external.thumb ? { thumb: ctx.imageUrl('feed_thumbnail', did, blobCid(e.external.thumb)) } : {}),
  },
})

/** Video is served as its original blob (no transcoding here): `playlist` points at it. */
const videoView = (ctx: ViewCtx, did: DidString, e: app.bsky.embed.video.Main): $Typed<app.bsky.embed.video.View> => ({
  $type: 'app.bsky.embed.video#view',
  cid: blobCid(e.video),
  playlist: ctx.imageUrl('feed_fullsize', did, blobCid(e.video)),
  ...(e.alt !== undefined ? { alt: e.alt } : {}),
  ...(e.aspectRatio ? { aspectRatio: e.aspectRatio } : {}),
})

const mediaView = (ctx: ViewCtx, did: DidString, m: app.bsky.embed.recordWithMedia.Main['media']): MediaView | undefined => {
  if (app.bsky.embed.images.$isTypeOf(m)) return imagesView(ctx, did, m)
  if (app.bsky.embed.external.$isTypeOf(m)) return externalView(ctx, did, m)
  if (app.bsky.embed.video.$isTypeOf(m)) return videoView(ctx, did, m)
  return undefined
}

/** A quoted post as the quoting post shows it, or why it cannot be shown. */
const postRecordView = (ctx: ViewCtx, uri: AtUriString, quotingUri: AtUriString, depth: number): RecordEmbedView => {
  const { state } = ctx
  const post = state.posts.get(uri)
  if (!post || !state.activeActor(post.creator)) return { $type: 'app.bsky.embed.record#viewNotFound', uri, notFound: true }
  if (state.blockedWith(post.creator)) {
    return {
      $type: 'app.bsky.embed.record#viewBlocked',
      uri,
      blocked: true,
      author: { did: post.creator, viewer: { blockedBy: state.actorViewers.get(post.creator)?.blockedBy ?? false, muted: false } },
    }
  }
  if (state.postgates.get(uri)?.record.detachedEmbeddingUris?.includes(quotingUri)) {
    return { $type: 'app.bsky.embed.record#viewDetached', uri, detached: true }
  }
  const author = profileViewBasic(ctx, post.creator)
  if (!author) return { $type: 'app.bsky.embed.record#viewNotFound', uri, notFound: true }
  const counts = state.recordCounts.get(uri)
  const inner = depth < 1 && post.record.embed ? embedView(ctx, post.creator, uri, post.record.embed, depth + 1) : undefined
  return {
    $type: 'app.bsky.embed.record#viewRecord',
    uri,
    cid: post.cid,
    author,
    value: post.record,
    labels: [],
    likeCount: counts?.likeCount ?? 0,
    repostCount: counts?.repostCount ?? 0,
    replyCount: counts?.replyCount ?? 0,
    quoteCount: counts?.quoteCount ?? 0,
    ...(inner ? { embeds: [inner] } : {}),
    indexedAt: post.indexedAt,
  }
}

const recordView = (ctx: ViewCtx, uri: AtUriString, quotingUri: AtUriString, depth: number): $Typed<app.bsky.embed.record.View> => {
  const collection = uri.split('/')[3]
  let record: RecordEmbedView | undefined
  if (collection === 'app.bsky.feed.post') record = postRecordView(ctx, uri, quotingUri, depth)
  else if (collection === 'app.bsky.feed.generator') record = generatorView(ctx, uri)
  else if (collection === 'app.bsky.graph.list') record = listView(ctx, uri)
  return { $type: 'app.bsky.embed.record#view', record: record ?? { $type: 'app.bsky.embed.record#viewNotFound', uri, notFound: true } }
}

/** The view of a post's embed; `postUri` is the embedding post (postgates detach by it). */
export const embedView = (ctx: ViewCtx, did: DidString, postUri: AtUriString, e: PostEmbed, depth = 0): EmbedView | undefined => {
  if (app.bsky.embed.images.$isTypeOf(e)) return imagesView(ctx, did, e)
  if (app.bsky.embed.external.$isTypeOf(e)) return externalView(ctx, did, e)
  if (app.bsky.embed.video.$isTypeOf(e)) return videoView(ctx, did, e)
  if (app.bsky.embed.record.$isTypeOf(e)) return recordView(ctx, e.record.uri, postUri, depth)
  if (app.bsky.embed.recordWithMedia.$isTypeOf(e)) {
    const media = mediaView(ctx, did, e.media)
    if (!media) return recordView(ctx, e.record.record.uri, postUri, depth)
    return { $type: 'app.bsky.embed.recordWithMedia#view', record: recordView(ctx, e.record.record.uri, postUri, depth), media }
  }
  return undefined
}
