import type { ComAtprotoRepoCreateRecord } from '@atproto/api'
import { assertOwnRepo, json, type AccessAuth, type Route } from '../../../util.ts'
import { prepareCreate } from '../../../../repo/prepare.ts'
import { parseSwap, rawRecord } from './util.ts'

export const createRecord: Route = (server, ctx) => {
  server.method('com.atproto.repo.createRecord', {
    auth: ctx.auth.accessStandard(),
    handler: async ({ auth, input, req }) => {
      const body = input!.body as ComAtprotoRepoCreateRecord.InputSchema
      const did = await assertOwnRepo(ctx, auth as AccessAuth, body.repo)
      const write = await prepareCreate({
        did,
        collection: body.collection,
        rkey: body.rkey,
        record: body.record,
        rawRecord: rawRecord(req)?.record,
        validate: body.validate,
      })
      const res = await ctx.repoWriter.processWrites(did, [write], parseSwap(body.swapCommit))
      return json({
        uri: write.uri,
        cid: write.cid.toString(),
        commit: { cid: res.cid.toString(), rev: res.rev },
        validationStatus: write.validationStatus,
      })
    },
  })
}
