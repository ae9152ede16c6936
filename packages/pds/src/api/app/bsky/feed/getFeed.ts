import { app } from '../../../../lexicon/app.ts'
import type { Route } from '../../../util.ts'
import { asPipeThrough, withUpstreamHeaders } from '../../../../proxy/respond.ts'
import { targetOf } from '../../../../read-after-write/pipethrough.ts'

/**
 * A custom feed through the app view, as the reference does it: the user's
 * token is minted for the feed's generator (aud = its DID, lxm =
 * getFeedSkeleton), and the app view hands it on to the generator.
 */
export const getFeed: Route = (server, ctx) => {
  server.add(app.bsky.feed.getFeed, {
    auth: ctx.auth.optionalProxied,
    handler: async ({ req, res, signal, auth, params }) => {
      const nsid = app.bsky.feed.getFeed.$lxm
      const target = await targetOf(ctx, req, nsid)
      const as =
        auth.credentials.type === 'access'
          ? { iss: auth.credentials.did, aud: await ctx.feedGenerators.didOf(params.feed), lxm: app.bsky.feed.getFeedSkeleton.$lxm }
          : {}
      const upstream = await ctx.pipethrough
        .forward(req, target, { nsid, ...as, signal })
        .catch((err: unknown) => Promise.reject(withUpstreamHeaders(res, err)))
      return asPipeThrough(upstream)
    },
  })
}
