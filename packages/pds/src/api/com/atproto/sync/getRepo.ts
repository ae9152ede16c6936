import { Readable } from 'node:stream'
import type { ComAtprotoSyncGetRepo } from '@atproto/api'
import { findRepoAccount, type Route } from '../../../util.ts'

export const getRepo: Route = (server, ctx) => {
  server.method('com.atproto.sync.getRepo', {
    handler: async ({ params }) => {
      const p = params as ComAtprotoSyncGetRepo.QueryParams
      const acc = await findRepoAccount(ctx, p.did)
      const car = ctx.repoReader.repoCar(acc.did, p.since)
      return { encoding: 'application/vnd.ipld.car', stream: Readable.from(car) }
    },
  })
}
