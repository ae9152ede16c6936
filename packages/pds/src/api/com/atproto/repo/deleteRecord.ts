import type { ComAtprotoRepoDeleteRecord } from '@atproto/api'
import { assertOwnRepo, json, type AccessAuth, type Route } from '../../../util.ts'
import { prepareDelete } from '../../../../repo/prepare.ts'
import { InvalidSwapError } from '../../../../errors.ts'
import { parseSwap, parseSwapRecord } from './util.ts'

export const deleteRecord: Route = (server, ctx) => {
  server.method('com.atproto.repo.deleteRecord', {
    auth: ctx.auth.accessStandard(),
    handler: async ({ auth, input }) => {
      const body = input!.body as ComAtprotoRepoDeleteRecord.InputSchema
      const did = await assertOwnRepo(ctx, auth as AccessAuth, body.repo)
      const write = prepareDelete({
        did,
        collection: body.collection,
        rkey: body.rkey,
        swapCid: parseSwapRecord(body),
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
