import { app } from '@atsuite/lexicon'
import type { AtUriString, DidString } from '@atproto/syntax'
import { threadSkeleton, threadgateRelations } from '../../../../data/thread.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { hydratePosts } from '../../../../hydration/feed.ts'
import type { HydrationState } from '../../../../hydration/state.ts'
import { createPipeline, noRules } from '../../../../pipeline.ts'
import { threadView, threadgateCheck, threadgateView, type ThreadSkeleton } from '../../../../views/thread.ts'
import { hydrateCtx, json, repoRevHeaders, type Route } from '../../../util.ts'

type Params = { uri: AtUriString; depth: number; parentHeight: number }
type Relations = Parameters<typeof threadgateCheck>[2]
type Skeleton = ThreadSkeleton & { rootUri: AtUriString; relations: Relations }

const noRelations = (): Relations => ({ followedByRoot: new Set(), followingRoot: new Set(), onLists: new Set() })

/** Follow/list relations the root's threadgate rules need, for the authors of the replies loaded. */
const gateRelations = async (ctx: Parameters<Parameters<typeof createPipeline>[0]>[0], sk: Skeleton, state: HydrationState): Promise<Relations> => {
  const root = state.posts.get(sk.rootUri)
  const gate = state.threadgates.get(sk.rootUri)?.record
  if (!root || !gate) return noRelations()
  const authors = [...sk.children.values()].flat().map((u) => state.posts.get(u)?.creator).filter((d): d is DidString => !!d)
  const lists = (gate.allow ?? []).flatMap((r) => (app.bsky.feed.threadgate.listRule.isTypeOf(r) ? [r.list] : []))
  return threadgateRelations(ctx.db, root.creator, authors, lists)
}

const getPostThreadPipeline = createPipeline(
  async (ctx, p: Params): Promise<Skeleton> => ({
    ...(await threadSkeleton(ctx.db, p.uri, p.depth, p.parentHeight)),
    rootUri: p.uri,
    relations: noRelations(),
  }),
  async (ctx, sk: Skeleton, state) => {
    await hydratePosts(ctx.db, [sk.anchor, ...sk.ancestors, ...[...sk.children.values()].flat()], state)
    sk.rootUri = state.posts.get(sk.anchor)?.record.reply?.root.uri ?? sk.anchor
    await hydratePosts(ctx.db, [sk.rootUri], state)
    sk.relations = await gateRelations(ctx, sk, state)
  },
  noRules,
  (sk, view, p) => {
    const thread = threadView(view, sk, p.depth, threadgateCheck(view, sk.rootUri, sk.relations))
    if (!thread) throw new InvalidRequestError(`Post not found: ${p.uri}`, 'NotFound')
    const threadgate = view.state.posts.get(sk.rootUri) ? threadgateView(view, sk.rootUri) : undefined
    return { thread, ...(threadgate ? { threadgate } : {}) }
  },
)

/** The anchor post, its parents up to `parentHeight`, its replies `depth` levels down; threadgates applied. */
export const getPostThread: Route = (server, ctx) => {
  server.add(app.bsky.feed.getPostThread, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth, res }) => {
      // sent on a NotFound too: the viewer's PDS then knows whether a post only it has is theirs to show
      const revHeaders = await repoRevHeaders(ctx, auth.credentials.iss)
      for (const [k, v] of Object.entries(revHeaders ?? {})) res.setHeader(k, v)
      const p: Params = {
        uri: params.uri,
        depth: Math.min(params.depth ?? 6, 1000),
        parentHeight: Math.min(params.parentHeight ?? 80, 1000),
      }
      const body = await getPostThreadPipeline(ctx, p, hydrateCtx(auth))
      return json(body, revHeaders)
    },
  })
}
