import { com } from '@atsuite/lexicon/com'
import { assertOwnRepo, json, type Route } from '../../../util.ts'
import { prepareCreate } from '../../../../repo/prepare.ts'
import { parseSwap, rawRecord } from './util.ts'
import { checkRepoScope } from '../../../../auth/scopes.ts'

export const createRecord: Route = (server, ctx) => {
  server.add(com.atproto.repo.createRecord, {
    rateLimit: ctx.rateLimits.repoWrite(() => 3),
    auth: ctx.auth.accessStandard(),
    handler: async ({ auth, input: { body }, req }) => {
      const did = await assertOwnRepo(ctx, auth, body.repo)
      checkRepoScope(auth.credentials, 'create', body.collection)
      const write = await prepareCreate({
        did,
        collection: body.collection,
        rkey: body.rkey,
        record: rawRecord(req, 'record'),
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
