import { com } from '@atsuite/lexicon/com'
import { isLexMap, type LexMap } from '@atproto/lex-data'
import { INVALID_HANDLE } from '@atproto/syntax'
import { findRepoAccount, json, type Route } from '../../../util.ts'

export const describeRepo: Route = (server, ctx) => {
  server.add(com.atproto.repo.describeRepo, {
    handler: async ({ params: p }) => {
      const acc = await findRepoAccount(ctx, p.repo)
      let didDoc: LexMap = {}
      let handleIsCorrect = false
      try {
        const doc = await ctx.didResolver.resolve(acc.did)
        if (doc) {
          if (isLexMap(doc)) didDoc = doc
          handleIsCorrect = (doc.alsoKnownAs ?? []).includes(`at://${acc.handle}`)
        }
      } catch {
        // directory unreachable: describe the repo anyway
      }
      return json({
        handle: acc.handle ?? INVALID_HANDLE,
        did: acc.did,
        didDoc,
        collections: ctx.repoReader.collections(acc.did),
        handleIsCorrect,
      })
    },
  })
}
