import { app } from '@atsuite/lexicon'
import type { DidString } from '@atproto/syntax'
import { actorMatch } from '../../../../data/search-query.ts'
import { typeaheadSkeleton } from '../../../../data/search.ts'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { profileViewBasic } from '../../../../views/actor.ts'
import { clampLimit, hydrateCtx, json, type Route } from '../../../util.ts'

const typeaheadPipeline = createPipeline(
  (ctx, p: { match: string; limit: number }) => typeaheadSkeleton(ctx.db, p.match, p.limit),
  (ctx, dids: DidString[], state) => hydrateProfiles(ctx.db, dids, state),
  (dids, view) => dids.filter((d) => !view.state.blockedWith(d)),
  (dids, view) => ({ actors: dids.map((d) => profileViewBasic(view, d)).filter((a) => a !== undefined) }),
)

/** Actors whose handle or display name start with what was typed (every word a prefix). */
export const searchActorsTypeahead: Route = (server, ctx) => {
  server.add(app.bsky.actor.searchActorsTypeahead, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const match = actorMatch(params.q ?? params.term ?? '')
      if (!match) return json({ actors: [] })
      return json(await typeaheadPipeline(ctx, { match, limit: clampLimit(params.limit, 10, 100) }, hydrateCtx(auth)))
    },
  })
}
