import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'
import type { app } from '@atsuite/lexicon'
import { profileViewBasic } from './actor.ts'
import type { ViewCtx } from './context.ts'
import { embedView } from './embed.ts'
import { threadgateView } from './thread.ts'

type ReplyRefPost = app.bsky.feed.defs.ReplyRef['parent']

export const notFoundPost = (uri: AtUriString): app.bsky.feed.defs.NotFoundPost & { $type: 'app.bsky.feed.defs#notFoundPost' } => ({
  $type: 'app.bsky.feed.defs#notFoundPost',
  uri,
  notFound: true,
})

export const blockedPost = (ctx: ViewCtx, uri: AtUriString, author: DidString): app.bsky.feed.defs.BlockedPost & { $type: 'app.bsky.feed.defs#blockedPost' } => {
  const v = ctx.state.actorViewers.get(author)
  return {
    $type: 'app.bsky.feed.defs#blockedPost',
    uri,
    blocked: true,
    author: { did: author, viewer: { blockedBy: v?.blockedBy ?? false, muted: v?.muted ?? false, ...(v?.blocking ? { blocking: v.blocking } : {}) } },
  }
}

/** A post as postView; undefined when unknown or its author is hidden. Blocks are the caller's rule. */
export const postView = (ctx: ViewCtx, uri: AtUriString): (app.bsky.feed.defs.PostView & { $type: 'app.bsky.feed.defs#postView' }) | undefined => {
  const { state } = ctx
  const post = state.posts.get(uri)
  if (!post) return undefined
  const author = profileViewBasic(ctx, post.creator)
  if (!author) return undefined
  const counts = state.recordCounts.get(uri)
  const pv = state.postViewers.get(uri)
  const embed = post.record.embed ? embedView(ctx, post.creator, uri, post.record.embed) : undefined
  const rootUri = post.record.reply?.root.uri ?? uri
  const gate = threadgateView(ctx, rootUri === uri ? uri : null)
  return {
    $type: 'app.bsky.feed.defs#postView',
    uri,
    cid: post.cid,
    author,
    record: post.record,
    ...(embed ? { embed } : {}),
    replyCount: counts?.replyCount ?? 0,
    repostCount: counts?.repostCount ?? 0,
    likeCount: counts?.likeCount ?? 0,
    quoteCount: counts?.quoteCount ?? 0,
    bookmarkCount: 0,
    indexedAt: post.indexedAt,
    ...(state.viewer
      ? { viewer: { ...(pv?.like ? { like: pv.like } : {}), ...(pv?.repost ? { repost: pv.repost } : {}), threadMuted: false, embeddingDisabled: false } }
      : {}),
    labels: [],
    ...(gate ? { threadgate: gate } : {}),
  }
}

/** A post as it appears in a reply reference: itself, not found, or blocked. */
export const maybePostView = (ctx: ViewCtx, uri: AtUriString): ReplyRefPost => {
  const post = ctx.state.posts.get(uri)
  if (post && ctx.state.blockedWith(post.creator)) return blockedPost(ctx, uri, post.creator)
  return postView(ctx, uri) ?? notFoundPost(uri)
}

/** One item of a feed: a post, or a repost of one (`repost` names the repost record). */
export type FeedItem = {
  postUri: AtUriString
  repost?: { uri: AtUriString; cid: string; by: DidString; indexedAt: DatetimeString }
}

export const feedViewPost = (ctx: ViewCtx, item: FeedItem): app.bsky.feed.defs.FeedViewPost | undefined => {
  const post = postView(ctx, item.postUri)
  if (!post) return undefined
  const record = ctx.state.posts.get(item.postUri)?.record
  let reason: app.bsky.feed.defs.FeedViewPost['reason']
  if (item.repost) {
    const by = profileViewBasic(ctx, item.repost.by)
    if (!by) return undefined
    reason = { $type: 'app.bsky.feed.defs#reasonRepost', by, uri: item.repost.uri, cid: item.repost.cid, indexedAt: item.repost.indexedAt }
  }
  let reply: app.bsky.feed.defs.ReplyRef | undefined
  if (record?.reply) {
    const parentPost = ctx.state.posts.get(record.reply.parent.uri)
    const parent = maybePostView(ctx, record.reply.parent.uri)
    const root = maybePostView(ctx, record.reply.root.uri)
    const grandparentAuthor = parentPost?.record.reply ? ctx.state.posts.get(parentPost.record.reply.parent.uri)?.creator : undefined
    const gp = grandparentAuthor ? profileViewBasic(ctx, grandparentAuthor) : undefined
    reply = { root, parent, ...(gp ? { grandparentAuthor: gp } : {}) }
  }
  return { post, ...(reply ? { reply } : {}), ...(reason ? { reason } : {}) }
}
