import { com } from '@atsuite/lexicon/com'
import { findRepoAccount, json, type Route } from '../../../util.ts'
import { assertCollection } from '../../../../repo/prepare.ts'

export const listRecords: Route = (server, ctx) => {
  server.add(com.atproto.repo.listRecords, {
    handler: async ({ params: p }) => {
      assertCollection(p.collection)
      const acc = await findRepoAccount(ctx, p.repo)
      return json(ctx.repoReader.listRecords(acc.did, p))
    },
  })
}
