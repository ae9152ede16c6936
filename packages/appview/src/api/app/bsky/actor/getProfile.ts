import type { DidString } from '@atproto/syntax'
import { app } from '@atsuite/lexicon'
import { InvalidRequestError } from '../../../../errors.ts'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { createPipeline, noRules } from '../../../../pipeline.ts'
import { profileViewDetailed } from '../../../../views/actor.ts'
import { hydrateCtx, json, repoRevHeaders, resolveActor, type Route } from '../../../util.ts'

const getProfilePipeline = createPipeline(
  async (ctx, params: { actor: app.bsky.actor.getProfile.$Params['actor'] }) => {
    const did = await resolveActor(ctx, params.actor)
    if (!did) throw new InvalidRequestError('Profile not found')
    return did
  },
  async (ctx, did: DidString, state) => hydrateProfiles(ctx.db, [did], state, { counts: true }),
  noRules,
  (did, view) => {
    const a = view.state.actors.get(did)
    if (a?.status === 'takendown' || a?.status === 'suspended') throw new InvalidRequestError('Account has been suspended', 'AccountTakedown')
    if (a && a.status !== null) throw new InvalidRequestError('Account is deactivated', 'AccountDeactivated')
    const profile = profileViewDetailed(view, did)
    if (!profile) throw new InvalidRequestError('Profile not found')
    return profile
  },
)

export const getProfile: Route = (server, ctx) => {
  server.add(app.bsky.actor.getProfile, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const body = await getProfilePipeline(ctx, params, hydrateCtx(auth))
      return json(body, await repoRevHeaders(ctx, auth.credentials.iss))
    },
  })
}
