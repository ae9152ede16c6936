import { com } from '@atsuite/lexicon/com'
import { clampLimit } from '@atsuite/common'
import { findRepoAccount, json, type Route } from '../../../util.ts'

export const listBlobs: Route = (server, ctx) => {
  server.add(com.atproto.sync.listBlobs, {
    handler: async ({ params: p }) => {
      const acc = await findRepoAccount(ctx, p.did)
      const limit = clampLimit(p.limit, 500, 1000)
      const cids = ctx.actorStore.read(acc.did, (db) => db.listBlobs(p.since, limit, p.cursor))
      return json({ cids, cursor: cids.length === limit ? cids[cids.length - 1] : undefined })
    },
  })
}
