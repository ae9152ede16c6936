import { com } from '@atsuite/lexicon/com'
import { assertOwnRepo, json, type Route } from '../../../util.ts'
import { prepareDelete } from '../../../../repo/prepare.ts'
import { InvalidSwapError } from '../../../../errors.ts'
import { parseSwap } from './util.ts'
import { checkRepoScope } from '../../../../auth/scopes.ts'

export const deleteRecord: Route = (server, ctx) => {
  server.add(com.atproto.repo.deleteRecord, {
    rateLimit: ctx.rateLimits.repoWrite(() => 1),
    auth: ctx.auth.accessStandard(),
    handler: async ({ auth, input: { body } }) => {
      const did = await assertOwnRepo(ctx, auth, body.repo)
      checkRepoScope(auth.credentials, 'delete', body.collection)
      const write = prepareDelete({
        did,
        collection: body.collection,
        rkey: body.rkey,
        swapCid: parseSwap(body.swapRecord),
      })
      if (ctx.repoReader.recordCid(did, write.collection, write.rkey) === null) {
        // deleting what is not there is a no-op, unless the caller expected it there
        if (write.swapCid) throw new InvalidSwapError('Record was at null')
        return json({})
      }
      const res = await ctx.repoWriter.processWrites(did, [write], parseSwap(body.swapCommit))
      return json({ commit: { cid: res.cid.toString(), rev: res.rev } })
    },
  })
}
