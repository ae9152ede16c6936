import { app } from '@atsuite/lexicon'
import type { AtUriString } from '@atproto/syntax'
import { hydrateFeedGens } from '../../../../hydration/graph.ts'
import { createPipeline } from '../../../../pipeline.ts'
import type { ViewCtx } from '../../../../views/context.ts'
import { generatorView } from '../../../../views/graph.ts'
import { hydrateCtx, json, type Route } from '../../../util.ts'

/** A generator whose creator is blocked either way is left out, as their posts are. */
const notBlockedGen = (view: ViewCtx, uri: AtUriString): boolean => {
  const gen = view.state.feedGens.get(uri)
  return !!gen && !view.state.blockedWith(gen.creator)
}

const getFeedGeneratorsPipeline = createPipeline(
  async (_ctx, uris: AtUriString[]) => [...new Set(uris)],
  (ctx, uris: AtUriString[], state) => hydrateFeedGens(ctx.db, uris, state),
  (uris, view) => uris.filter((u) => notBlockedGen(view, u)),
  (uris, view) => ({ feeds: uris.map((u) => generatorView(view, u)).filter((g) => g !== undefined) }),
)

/** Feed generator views by URI, in the order asked; unknown or hidden ones are left out. */
export const getFeedGenerators: Route = (server, ctx) => {
  server.add(app.bsky.feed.getFeedGenerators, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => json(await getFeedGeneratorsPipeline(ctx, params.feeds, hydrateCtx(auth))),
  })
}
