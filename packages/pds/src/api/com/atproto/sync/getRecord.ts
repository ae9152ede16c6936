import { Readable } from 'node:stream'
import { com } from '@atsuite/lexicon/com'
import { findRepoAccount, type Route } from '../../../util.ts'
import { assertCollection } from '../../../../repo/prepare.ts'

export const getRecord: Route = (server, ctx) => {
  server.add(com.atproto.sync.getRecord, {
    handler: async ({ params: p }) => {
      assertCollection(p.collection)
      const acc = await findRepoAccount(ctx, p.did)
      const car = ctx.repoReader.recordProof(acc.did, p.collection, p.rkey)
      return { encoding: 'application/vnd.ipld.car', stream: Readable.from(car) }
    },
  })
}
