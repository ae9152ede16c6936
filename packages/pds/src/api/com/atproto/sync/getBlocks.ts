import type { ComAtprotoSyncGetBlocks } from '@atproto/api'
import { findRepoAccount, type Route } from '../../../util.ts'

export const getBlocks: Route = (server, ctx) => {
  server.method('com.atproto.sync.getBlocks', {
    handler: async ({ params }) => {
      const p = params as ComAtprotoSyncGetBlocks.QueryParams
      const acc = await findRepoAccount(ctx, p.did)
      const car = await ctx.repoReader.blocksCar(acc.did, p.cids.map(String))
      return { encoding: 'application/vnd.ipld.car', buffer: Buffer.from(car) }
    },
  })
}
