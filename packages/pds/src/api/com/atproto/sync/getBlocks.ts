import { com } from '@atsuite/lexicon/com'
import { findRepoAccount, type Route } from '../../../util.ts'

export const getBlocks: Route = (server, ctx) => {
  server.add(com.atproto.sync.getBlocks, {
    handler: async ({ params: p }) => {
      const acc = await findRepoAccount(ctx, p.did)
      const car = await ctx.repoReader.blocksCar(acc.did, p.cids)
      return { encoding: 'application/vnd.ipld.car', buffer: Buffer.from(car) }
    },
  })
}
