import { app } from '@atsuite/lexicon'
import { actorMatch } from '../../../../data/search-query.ts'
import { searchActorsSkeleton, type ActorSearchSkeleton } from '../../../../data/search.ts'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { profileView } from '../../../../views/actor.ts'
import { clampLimit, fillPage, hydrateCtx, json, type Route } from '../../../util.ts'

const searchActorsPipeline = createPipeline(
  (ctx, p: { match: string; limit: number; cursor?: string }) => searchActorsSkeleton(ctx.db, p.match, p.limit, p.cursor),
  (ctx, sk: ActorSearchSkeleton, state) => hydrateProfiles(ctx.db, sk.dids, state),
  (sk, view) => ({ ...sk, dids: sk.dids.filter((d) => !view.state.blockedWith(d)) }),
  (sk, view) => ({
    actors: sk.dids.map((d) => profileView(view, d)).filter((a) => a !== undefined),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/** Actors by handle and display name (`q`, or the deprecated `term`), most relevant first; nothing to search for → no actors. */
export const searchActors: Route = (server, ctx) => {
  server.add(app.bsky.actor.searchActors, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const match = actorMatch(params.q ?? params.term ?? '')
      if (!match) return json({ actors: [] })
      const hctx = hydrateCtx(auth)
      const body = await fillPage({
        limit: clampLimit(params.limit, 25, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => searchActorsPipeline(ctx, { match, limit, cursor }, hctx),
        items: (r) => r.actors,
      })
      return json(body)
    },
  })
}
