import { clampLimit } from '@atsuite/common'
import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'

/**
 * com.atproto.sync.listReposByCollection: accounts with records in a
 * collection, in DID order (accounts/collection-index.ts says how exact).
 * Flushes pending index changes first, so a commit already on the stream is
 * already counted.
 */
export const listReposByCollection: Route = (server, ctx) => {
  server.add(com.atproto.sync.listReposByCollection, {
    handler: async ({ params: p }) => {
      const limit = clampLimit(p.limit, 500, 2000)
      ctx.flush()
      const dids = ctx.collections.list(p.collection, limit, p.cursor)
      return json({ repos: dids.map((did) => ({ did: did as `did:${string}:${string}` })), cursor: dids.length === limit ? dids[dids.length - 1] : undefined })
    },
  })
}
