import { Readable } from 'node:stream'
import { com } from '@atsuite/lexicon/com'
import { findRepoAccount, type Route } from '../../../util.ts'

export const getRepo: Route = (server, ctx) => {
  server.add(com.atproto.sync.getRepo, {
    handler: async ({ params: p }) => {
      const acc = await findRepoAccount(ctx, p.did)
      const car = ctx.repoReader.repoCar(acc.did, p.since)
      return { encoding: 'application/vnd.ipld.car', stream: Readable.from(car) }
    },
  })
}
