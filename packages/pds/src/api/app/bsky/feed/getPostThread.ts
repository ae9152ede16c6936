import { app } from '../../../../lexicon/app.ts'
import type { Route } from '../../../util.ts'
import { UpstreamError } from '../../../../proxy/upstream.ts'
import { outputCheck, pipethroughReadAfterWrite } from '../../../../read-after-write/pipethrough.ts'
import { localThread, mungeThread } from '../../../../read-after-write/thread.ts'

/**
 * The app view's thread with the user's replies it has not indexed yet; a
 * post of theirs it does not know at all (NotFound) is served from their
 * repo (read-after-write).
 */
export const getPostThread: Route = (server, ctx) => {
  server.add(app.bsky.feed.getPostThread, {
    auth: ctx.auth.optionalProxied,
    handler: async ({ req, res, signal, auth, params }) => {
      try {
        return await pipethroughReadAfterWrite(ctx, {
          req,
          res,
          signal,
          auth,
          nsid: app.bsky.feed.getPostThread.$lxm,
          output: outputCheck(app.bsky.feed.getPostThread.$output.schema),
          wants: (local) => local.posts.some((p) => p.record.reply !== undefined),
          munge: mungeThread,
        })
      } catch (err) {
        if (!(err instanceof UpstreamError) || err.error !== 'NotFound' || auth.credentials.type !== 'access') throw err
        const local = await localThread(ctx, auth.credentials.did, params, err.headers['atproto-repo-rev'])
        if (!local) throw err
        return local
      }
    },
  })
}
