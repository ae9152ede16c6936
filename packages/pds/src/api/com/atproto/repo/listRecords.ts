import type { ComAtprotoRepoListRecords } from '@atproto/api'
import { findRepoAccount, json, type Route } from '../../../util.ts'
import { assertCollection } from '../../../../repo/prepare.ts'

export const listRecords: Route = (server, ctx) => {
  server.method('com.atproto.repo.listRecords', {
    handler: async ({ params }) => {
      const p = params as ComAtprotoRepoListRecords.QueryParams
      assertCollection(p.collection)
      const acc = await findRepoAccount(ctx, p.repo)
      return json(ctx.repoReader.listRecords(acc.did, p))
    },
  })
}
