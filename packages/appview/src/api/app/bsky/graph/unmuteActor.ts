import { app } from '@atsuite/lexicon'
import { removeMute } from '../../../../data/graph.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { resolveActor, type Route } from '../../../util.ts'

/** Lifts the viewer's mute of an account (nothing to do when there is none). */
export const unmuteActor: Route = (server, ctx) => {
  server.add(app.bsky.graph.unmuteActor, {
    auth: ctx.auth.required,
    handler: async ({ input, auth }) => {
      const did = await resolveActor(ctx, input.body.actor)
      if (!did) throw new InvalidRequestError('Actor not found')
      await removeMute(ctx.db, auth.credentials.iss, did)
    },
  })
}
