import { Readable } from 'node:stream'
import type { ComAtprotoSyncGetRecord } from '@atproto/api'
import { findRepoAccount, type Route } from '../../../util.ts'
import { assertCollection } from '../../../../repo/prepare.ts'

export const getRecord: Route = (server, ctx) => {
  server.method('com.atproto.sync.getRecord', {
    handler: async ({ params }) => {
      const p = params as ComAtprotoSyncGetRecord.QueryParams
      assertCollection(p.collection)
      const acc = await findRepoAccount(ctx, p.did)
      const car = ctx.repoReader.recordProof(acc.did, p.collection, p.rkey)
      return { encoding: 'application/vnd.ipld.car', stream: Readable.from(car) }
    },
  })
}
