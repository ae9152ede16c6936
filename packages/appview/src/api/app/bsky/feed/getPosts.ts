import { app } from '@atsuite/lexicon'
import type { AtUriString } from '@atproto/syntax'
import { hydratePosts } from '../../../../hydration/feed.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { postView } from '../../../../views/feed.ts'
import { hydrateCtx, json, repoRevHeaders, type Route } from '../../../util.ts'

const getPostsPipeline = createPipeline(
  async (_ctx, uris: AtUriString[]) => [...new Set(uris)],
  async (ctx, uris: AtUriString[], state) => hydratePosts(ctx.db, uris, state),
  (uris, view) => uris.filter((u) => {
    const p = view.state.posts.get(u)
    return !!p && !view.state.blockedWith(p.creator)
  }),
  (uris, view) => ({ posts: uris.map((u) => postView(view, u)).filter((p) => p !== undefined) }),
)

/** Posts by URI, in the order asked; unknown, hidden or blocked ones are left out. */
export const getPosts: Route = (server, ctx) => {
  server.add(app.bsky.feed.getPosts, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => json(await getPostsPipeline(ctx, params.uris, hydrateCtx(auth)), await repoRevHeaders(ctx, auth.credentials.iss)),
  })
}
