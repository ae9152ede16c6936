import { app } from '@atsuite/lexicon'
import { suggestionsSkeleton, type SuggestionSkeleton } from '../../../../data/suggestions.ts'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { createPipeline, noRules } from '../../../../pipeline.ts'
import { profileView } from '../../../../views/actor.ts'
import { clampLimit, hydrateCtx, json, type Route } from '../../../util.ts'

const getSuggestionsPipeline = createPipeline(
  (ctx, p: { limit: number; cursor?: string }, hctx) => suggestionsSkeleton(ctx.db, hctx.viewer, p.limit, p.cursor),
  (ctx, sk: SuggestionSkeleton, state) => hydrateProfiles(ctx.db, sk.dids, state),
  // the skeleton already leaves out the viewer, their follows, blocks either way and mutes
  noRules,
  (sk, view) => ({
    actors: sk.dids.map((d) => profileView(view, d)).filter((a) => a !== undefined),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/** Accounts to follow: the most-followed ones the viewer does not follow yet. */
export const getSuggestions: Route = (server, ctx) => {
  server.add(app.bsky.actor.getSuggestions, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) =>
      json(await getSuggestionsPipeline(ctx, { limit: clampLimit(params.limit, 50, 100), cursor: params.cursor }, hydrateCtx(auth))),
  })
}
