import { AtUri, type AtUriString, type DidString } from '@atproto/syntax'
import type { l } from '@atproto/lex-schema'
import { app } from '../lexicon/app.ts'
import type { AppContext } from '../context.ts'
import { readAfterWriteLogger as log } from '../logger.ts'
import { UpstreamError } from '../proxy/upstream.ts'
import { atUri } from '../repo/prepare.ts'
import { localPost, localRecordsSince, type LocalPost, type LocalRecords } from './local-records.ts'
import { LocalViewer } from './local-viewer.ts'
import { mungedHeaders, type MungeFn, type Munged } from './pipethrough.ts'

type Thread = app.bsky.feed.getPostThread.$OutputBody
type ThreadViewPost = l.$Typed<app.bsky.feed.defs.ThreadViewPost>
type ThreadNode = NonNullable<app.bsky.feed.defs.ThreadViewPost['replies']>[number]
type ThreadParent = NonNullable<app.bsky.feed.defs.ThreadViewPost['parent']>

const POST = app.bsky.feed.post.$type
const { threadViewPost } = app.bsky.feed.defs

const rootOf = (view: ThreadViewPost): string => {
  const res = app.bsky.feed.post.$safeValidate(view.post.record)
  return (res.success ? res.value.reply?.root.uri : undefined) ?? view.post.uri
}

const collectUris = (node: ThreadViewPost, into: Set<string>): Set<string> => {
  into.add(node.post.uri)
  for (const r of node.replies ?? []) if (threadViewPost.isTypeOf(r)) collectUris(r, into)
  return into
}

/** `reply` put first among the replies of the node showing `parentUri`, wherever it is below `node`. */
const insertReply = (node: ThreadViewPost, parentUri: string, reply: ThreadViewPost): ThreadViewPost => {
  if (node.post.uri === parentUri) return { ...node, replies: [reply, ...(node.replies ?? [])] }
  if (!node.replies) return node
  return { ...node, replies: node.replies.map((r): ThreadNode => (threadViewPost.isTypeOf(r) ? insertReply(r, parentUri, reply) : r)) }
}

/**
 * The user's new replies in this thread, each under its parent (where the
 * parent is shown; replies to their own new replies too, as they are added
 * oldest first). Replies the thread already shows are left alone.
 */
export const addReplies = (viewer: LocalViewer, anchor: ThreadViewPost, posts: LocalPost[]): ThreadViewPost => {
  const root = rootOf(anchor)
  const present = collectUris(anchor, new Set())
  let thread = anchor
  for (const post of posts) {
    const reply = post.record.reply
    if (!reply || reply.root.uri !== root || present.has(post.uri)) continue
    thread = insertReply(thread, reply.parent.uri, viewer.threadViewPost(post))
    present.add(post.uri)
  }
  return thread
}

export const mungeThread: MungeFn<Thread> = (viewer, body, local) =>
  threadViewPost.isTypeOf(body.thread) ? { ...body, thread: addReplies(viewer, body.thread, local.posts) } : body

/** The URI as `at://<the user's DID>/app.bsky.feed.post/<rkey>` when it names one of their posts (by DID or handle). */
const ownPostUri = async (ctx: AppContext, did: DidString, uri: AtUriString): Promise<AtUriString | null> => {
  let parsed: AtUri
  try {
    parsed = new AtUri(uri)
  } catch {
    return null
  }
  if (parsed.collection !== POST || !parsed.rkey) return null
  const host = parsed.host
  if (host !== did && (host.startsWith('did:') || (await ctx.accounts.getAccount(host))?.did !== did)) return null
  return atUri(did, POST, parsed.rkey)
}

/** One of the user's posts the app view does not have, from their repo, with its own parents. */
const localParent = async (ctx: AppContext, viewer: LocalViewer, local: Map<string, LocalPost>, post: LocalPost, height: number): Promise<ThreadParent> => {
  const up = post.record.reply?.parent.uri
  const parent = up ? await parentView(ctx, viewer, local, up, height - 1) : undefined
  return { ...viewer.threadViewPost(post, { replies: false }), ...(parent ? { parent } : {}) }
}

/**
 * A parent above a thread served from local data: one of the user's new
 * posts; else the app view's view of it (with its own parents); else, when
 * the app view does not know it either and it is the user's post, from
 * their repo; else not found.
 */
const parentView = async (
  ctx: AppContext,
  viewer: LocalViewer,
  local: Map<string, LocalPost>,
  uri: AtUriString,
  height: number,
): Promise<ThreadParent | undefined> => {
  if (height <= 0) return undefined
  const mine = local.get(uri)
  if (mine) return localParent(ctx, viewer, local, mine, height)
  const appView = ctx.pipethrough.appView
  if (!appView) return undefined
  try {
    const answer = await ctx.pipethrough.query(appView, 'app.bsky.feed.getPostThread', { uri, depth: '0', parentHeight: String(height - 1) }, viewer.did)
    const res = app.bsky.feed.getPostThread.$output.schema.safeValidate(answer)
    return res.success ? res.value.thread : undefined
  } catch (err) {
    if (!(err instanceof UpstreamError) || err.error !== 'NotFound') {
      log.info({ err, uri }, 'could not load the parents of a local thread')
      return undefined
    }
  }
  const stored = uri.startsWith(`at://${viewer.did}/${POST}/`) ? ctx.actorStore.read(viewer.did, (db) => localPost(db, uri)) : null
  if (stored) return localParent(ctx, viewer, local, stored.post, height)
  return { $type: 'app.bsky.feed.defs#notFoundPost', uri, notFound: true }
}

/**
 * getPostThread for a post the app view does not know yet (it answered
 * NotFound): when it is the user's own post, written after the rev the app
 * view has indexed (any rev, if the app view did not say), the thread is
 * built from their repo: the post, their new replies below it, and its
 * parents (their new posts, then the app view's view). Null otherwise.
 */
export const localThread = async (
  ctx: AppContext,
  did: DidString,
  params: app.bsky.feed.getPostThread.$Params,
  rev: string | undefined,
): Promise<Munged<Thread> | null> => {
  const uri = await ownPostUri(ctx, did, params.uri)
  if (!uri) return null
  const found = ctx.actorStore.read(did, (db) => {
    const anchor = localPost(db, uri)
    if (!anchor || (rev !== undefined && anchor.rev <= rev)) return null
    return { anchor: anchor.post, after: localRecordsSince(db, anchor.rev).posts }
  })
  if (!found) return null
  const local: LocalRecords = { profile: null, posts: [found.anchor, ...found.after] }
  const viewer = await LocalViewer.load(ctx, did, local)
  const thread = addReplies(viewer, viewer.threadViewPost(found.anchor), found.after)
  const parentUri = found.anchor.record.reply?.parent.uri
  const byUri = new Map(local.posts.map((p) => [p.uri, p]))
  const parent = parentUri ? await parentView(ctx, viewer, byUri, parentUri, params.parentHeight ?? 80) : undefined
  return { encoding: 'application/json', body: { thread: { ...thread, ...(parent ? { parent } : {}) } }, headers: mungedHeaders({}, local) }
}
