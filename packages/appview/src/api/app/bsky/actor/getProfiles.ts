import { app } from '@atsuite/lexicon'
import type { DidString } from '@atproto/syntax'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { createPipeline, noRules } from '../../../../pipeline.ts'
import { profileViewDetailed } from '../../../../views/actor.ts'
import { hydrateCtx, json, repoRevHeaders, resolveActor, type Route } from '../../../util.ts'

const getProfilesPipeline = createPipeline(
  async (ctx, params: { actors: app.bsky.actor.getProfiles.$Params['actors'] }) => {
    const dids = await Promise.all(params.actors.map((a) => resolveActor(ctx, a)))
    return dids.filter((d): d is DidString => d !== null)
  },
  async (ctx, dids: DidString[], state) => hydrateProfiles(ctx.db, dids, state, { counts: true }),
  noRules,
  (dids, view) => ({ profiles: dids.map((d) => profileViewDetailed(view, d)).filter((p) => p !== undefined) }),
)

export const getProfiles: Route = (server, ctx) => {
  server.add(app.bsky.actor.getProfiles, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) =>
      json(await getProfilesPipeline(ctx, params, hydrateCtx(auth)), await repoRevHeaders(ctx, auth.credentials.iss)),
  })
}
