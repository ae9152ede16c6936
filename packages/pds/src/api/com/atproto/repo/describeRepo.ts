import type { ComAtprotoRepoDescribeRepo } from '@atproto/api'
import { findRepoAccount, json, type Route } from '../../../util.ts'

export const describeRepo: Route = (server, ctx) => {
  server.method('com.atproto.repo.describeRepo', {
    handler: async ({ params }) => {
      const p = params as ComAtprotoRepoDescribeRepo.QueryParams
      const acc = await findRepoAccount(ctx, p.repo)
      let didDoc: unknown = {}
      let handleIsCorrect = false
      try {
        const doc = await ctx.idResolver.did.resolve(acc.did, true)
        if (doc) {
          didDoc = doc
          handleIsCorrect = (doc.alsoKnownAs ?? []).includes(`at://${acc.handle}`)
        }
      } catch {
        // directory unreachable: describe the repo anyway
      }
      return json({
        handle: acc.handle ?? 'handle.invalid',
        did: acc.did,
        didDoc,
        collections: ctx.repoReader.collections(acc.did),
        handleIsCorrect,
      })
    },
  })
}
