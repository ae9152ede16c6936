import { app } from '../../../../lexicon/app.ts'
import type { Route } from '../../../util.ts'
import { mungeTimeline } from '../../../../read-after-write/feed.ts'
import { outputCheck, pipethroughReadAfterWrite } from '../../../../read-after-write/pipethrough.ts'

/** The app view's timeline, with the user's posts it has not indexed yet on top (read-after-write). */
export const getTimeline: Route = (server, ctx) => {
  server.add(app.bsky.feed.getTimeline, {
    auth: ctx.auth.optionalProxied,
    handler: ({ req, res, signal, auth, params }) =>
      pipethroughReadAfterWrite(ctx, {
        req,
        res,
        signal,
        auth,
        nsid: app.bsky.feed.getTimeline.$lxm,
        output: outputCheck(app.bsky.feed.getTimeline.$output.schema),
        wants: (local) => local.posts.length > 0 || local.profile !== null,
        munge: mungeTimeline(params.cursor),
      }),
  })
}
