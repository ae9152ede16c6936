import { app } from '@atsuite/lexicon'
import type { AtUriString, DidString } from '@atproto/syntax'
import { quotesPage } from '../../../../data/interactions.ts'
import type { Page } from '../../../../data/graph.ts'
import { hydratePosts } from '../../../../hydration/feed.ts'
import { hydrateBlockPairs } from '../../../../hydration/graph.ts'
import { didOfUri } from '../../../../indexer/plugin.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { postView } from '../../../../views/feed.ts'
import { clampLimit, fillPage, hydrateCtx, json, type Route } from '../../../util.ts'

type Params = { uri: AtUriString; limit: number; cursor?: string }
type Skeleton = Page<AtUriString> & { author: DidString | null }

const getQuotesPipeline = createPipeline(
  async (ctx, p: Params): Promise<Skeleton> => ({ ...(await quotesPage(ctx.db, p.uri, p.limit, p.cursor)), author: didOfUri(p.uri) }),
  async (ctx, sk: Skeleton, state) => {
    await hydratePosts(ctx.db, sk.items, state)
    const quoters = sk.items.flatMap((u) => state.posts.get(u)?.creator ?? [])
    if (sk.author) await hydrateBlockPairs(ctx.db, sk.author, quoters, state)
  },
  (sk, view) => ({
    ...sk,
    items: sk.items.filter((u) => {
      const p = view.state.posts.get(u)
      return !!p && !view.state.blockedWith(p.creator) && !(sk.author && view.state.blockedBetween(sk.author, p.creator))
    }),
  }),
  (sk, view) => ({
    posts: sk.items.map((u) => postView(view, u)).filter((v) => v !== undefined),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/**
 * Posts quoting a post, newest first. Left out: quotes by accounts blocked
 * either way with the viewer or with the quoted post's author, and hidden ones.
 */
export const getQuotes: Route = (server, ctx) => {
  server.add(app.bsky.feed.getQuotes, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const hctx = hydrateCtx(auth)
      const res = await fillPage({
        limit: clampLimit(params.limit, 50, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => getQuotesPipeline(ctx, { uri: params.uri, limit, cursor }, hctx),
        items: (r) => r.posts,
      })
      return json({ uri: params.uri, ...(params.cid ? { cid: params.cid } : {}), ...res })
    },
  })
}
