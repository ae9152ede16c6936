import { app } from '@atsuite/lexicon'
import { toDatetimeString } from '@atproto/syntax'
import { addMute } from '../../../../data/graph.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { resolveActor, type Route } from '../../../util.ts'

/**
 * Mutes an account for the viewer (private: only this app view knows). Mutes
 * scoped to reposts or quote posts are refused rather than stored as full
 * mutes: nothing here applies them yet.
 */
export const muteActor: Route = (server, ctx) => {
  server.add(app.bsky.graph.muteActor, {
    auth: ctx.auth.required,
    handler: async ({ input, auth }) => {
      const viewer = auth.credentials.iss
      const { actor, onlyReposts, onlyQuoteposts } = input.body
      if (onlyReposts || onlyQuoteposts) throw new InvalidRequestError('Scoped mutes (onlyReposts, onlyQuoteposts) are not supported')
      const did = await resolveActor(ctx, actor)
      if (!did) throw new InvalidRequestError('Actor not found')
      if (did === viewer) throw new InvalidRequestError('Actor cannot mute themselves')
      await addMute(ctx.db, viewer, did, toDatetimeString(new Date()))
    },
  })
}
