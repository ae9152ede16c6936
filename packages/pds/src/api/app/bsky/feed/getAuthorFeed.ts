import { app } from '../../../../lexicon/app.ts'
import type { Route } from '../../../util.ts'
import { mungeAuthorFeed } from '../../../../read-after-write/feed.ts'
import { outputCheck, pipethroughReadAfterWrite } from '../../../../read-after-write/pipethrough.ts'

/** The app view's author feed; the user's own shows their posts it has not indexed yet (read-after-write). */
export const getAuthorFeed: Route = (server, ctx) => {
  server.add(app.bsky.feed.getAuthorFeed, {
    auth: ctx.auth.optionalProxied,
    handler: ({ req, res, signal, auth, params }) =>
      pipethroughReadAfterWrite(ctx, {
        req,
        res,
        signal,
        auth,
        nsid: app.bsky.feed.getAuthorFeed.$lxm,
        output: outputCheck(app.bsky.feed.getAuthorFeed.$output.schema),
        wants: (local) => local.posts.length > 0 || local.profile !== null,
        munge: mungeAuthorFeed(params),
      }),
  })
}
