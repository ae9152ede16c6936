import type { AtUriString, DidString } from '@atproto/syntax'
import { app } from '@atsuite/lexicon'
import type { ViewCtx } from './context.ts'
import { blockedPost, notFoundPost, postView } from './feed.ts'

type ThreadNode = NonNullable<app.bsky.feed.defs.ThreadViewPost['parent']>

/** The threadgate of a root post, as postView carries it. */
export const threadgateView = (ctx: ViewCtx, rootUri: AtUriString | null): app.bsky.feed.defs.ThreadgateView | undefined => {
  if (!rootUri) return undefined
  const gate = ctx.state.threadgates.get(rootUri)
  if (!gate) return undefined
  return { uri: gate.uri, cid: gate.cid, record: gate.record, lists: [] }
}

/**
 * Who may reply under a threadgate, evaluated at read time: the root's author
 * always; otherwise the gate's rules (mentioned, followed by the author,
 * following the author, on a list). No `allow` field = everyone; an empty
 * one = nobody. Replies the gate lists in `hiddenReplies` are hidden too.
 */
export type GateCheck = (replyUri: AtUriString, replyAuthor: DidString) => boolean

export const threadgateCheck = (
  ctx: ViewCtx,
  rootUri: AtUriString,
  relations: { followedByRoot: Set<DidString>; followingRoot: Set<DidString>; onLists: Set<DidString> },
): GateCheck => {
  const gate = ctx.state.threadgates.get(rootUri)?.record
  const root = ctx.state.posts.get(rootUri)
  if (!gate || !root) return () => true
  const hidden = new Set(gate.hiddenReplies ?? [])
  const allow = gate.allow
  const mentioned = new Set<string>()
  for (const f of root.record.facets ?? []) {
    for (const feat of f.features) if (app.bsky.richtext.facet.mention.isTypeOf(feat)) mentioned.add(feat.did)
  }
  return (replyUri, author) => {
    if (hidden.has(replyUri)) return false
    if (author === root.creator || allow === undefined) return true
    return allow.some((rule) => {
      if (app.bsky.feed.threadgate.mentionRule.isTypeOf(rule)) return mentioned.has(author)
      if (app.bsky.feed.threadgate.followingRule.isTypeOf(rule)) return relations.followedByRoot.has(author)
      if (app.bsky.feed.threadgate.followerRule.isTypeOf(rule)) return relations.followingRoot.has(author)
      if (app.bsky.feed.threadgate.listRule.isTypeOf(rule)) return relations.onLists.has(author)
      return false
    })
  }
}

/** The thread skeleton: the anchor, its ancestors (nearest first) and its replies by parent. */
export type ThreadSkeleton = {
  anchor: AtUriString
  ancestors: AtUriString[]
  children: Map<AtUriString, AtUriString[]>
}

const node = (ctx: ViewCtx, uri: AtUriString): ThreadNode => {
  const post = ctx.state.posts.get(uri)
  if (!post) return notFoundPost(uri)
  if (ctx.state.blockedWith(post.creator)) return blockedPost(ctx, uri, post.creator)
  const view = postView(ctx, uri)
  return view ? { $type: 'app.bsky.feed.defs#threadViewPost', post: view } : notFoundPost(uri)
}

const replies = (ctx: ViewCtx, sk: ThreadSkeleton, uri: AtUriString, depth: number, allowed: GateCheck): ThreadNode[] | undefined => {
  if (depth <= 0) return undefined
  const out: ThreadNode[] = []
  for (const child of sk.children.get(uri) ?? []) {
    const post = ctx.state.posts.get(child)
    if (!post || ctx.state.blockedWith(post.creator) || !allowed(child, post.creator)) continue
    const view = postView(ctx, child)
    if (!view) continue
    const sub = replies(ctx, sk, child, depth - 1, allowed)
    out.push({ $type: 'app.bsky.feed.defs#threadViewPost', post: view, ...(sub ? { replies: sub } : {}) })
  }
  return out
}

/** The anchor with its parent chain and reply tree; undefined when the anchor is unknown or hidden. */
export const threadView = (ctx: ViewCtx, sk: ThreadSkeleton, depth: number, allowed: GateCheck): ThreadNode | undefined => {
  const anchor = node(ctx, sk.anchor)
  if (!app.bsky.feed.defs.threadViewPost.isTypeOf(anchor)) {
    return app.bsky.feed.defs.blockedPost.isTypeOf(anchor) ? anchor : undefined
  }
  let child: app.bsky.feed.defs.ThreadViewPost = anchor
  for (const uri of sk.ancestors) {
    const parent = node(ctx, uri)
    child.parent = parent
    if (!app.bsky.feed.defs.threadViewPost.isTypeOf(parent)) break
    child = parent
  }
  const r = replies(ctx, sk, sk.anchor, depth, allowed)
  if (r) anchor.replies = r
  return anchor
}
