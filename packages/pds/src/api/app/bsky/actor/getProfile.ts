import { app } from '../../../../lexicon/app.ts'
import type { Route } from '../../../util.ts'
import { outputCheck, pipethroughReadAfterWrite } from '../../../../read-after-write/pipethrough.ts'
import { mungeProfile } from '../../../../read-after-write/profile.ts'

/** The app view's profile; the user's own as their repo has it now (read-after-write). */
export const getProfile: Route = (server, ctx) => {
  server.add(app.bsky.actor.getProfile, {
    auth: ctx.auth.optionalProxied,
    handler: ({ req, res, signal, auth }) =>
      pipethroughReadAfterWrite(ctx, {
        req,
        res,
        signal,
        auth,
        nsid: app.bsky.actor.getProfile.$lxm,
        output: outputCheck(app.bsky.actor.getProfile.$output.schema),
        wants: (local) => local.profile !== null || local.posts.length > 0,
        munge: mungeProfile,
      }),
  })
}
