import { app } from '@atsuite/lexicon'
import { InvalidRequestError } from '../../../../errors.ts'
import { clampLimit, fillPage, hydrateCtx, json, resolveActor, type Route } from '../../../util.ts'
import { followListPipeline } from './follow-list.ts'

const getFollowersPipeline = followListPipeline('followers')

/** Who follows an actor, newest first. */
export const getFollowers: Route = (server, ctx) => {
  server.add(app.bsky.graph.getFollowers, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const actor = await resolveActor(ctx, params.actor)
      if (!actor) throw new InvalidRequestError(`Actor not found: ${params.actor}`)
      const hctx = hydrateCtx(auth)
      const res = await fillPage({
        limit: clampLimit(params.limit, 50, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => getFollowersPipeline(ctx, { actor, limit, cursor }, hctx),
        items: (r) => r.profiles,
      })
      return json({ subject: res.subject, followers: res.profiles, ...(res.cursor ? { cursor: res.cursor } : {}) })
    },
  })
}
