import { com } from '@atsuite/lexicon/com'
import { assertOwnRepo, json, type Route } from '../../../util.ts'
import { prepareUpdate } from '../../../../repo/prepare.ts'
import { parseSwap, parseSwapRecord, rawRecord } from './util.ts'
import { checkRepoScope } from '../../../../auth/scopes.ts'

export const putRecord: Route = (server, ctx) => {
  server.add(com.atproto.repo.putRecord, {
    rateLimit: ctx.rateLimits.repoWrite(() => 2),
    auth: ctx.auth.accessStandard(),
    handler: async ({ auth, input: { body }, req }) => {
      const did = await assertOwnRepo(ctx, auth, body.repo)
      const write = await prepareUpdate({
        did,
        collection: body.collection,
        rkey: body.rkey,
        record: rawRecord(req, 'record'),
        validate: body.validate,
        swapCid: parseSwapRecord(body.swapRecord),
      })
      const currentCid = ctx.repoReader.recordCid(did, write.collection, write.rkey)
      // a put creates what is not there yet
      checkRepoScope(auth.credentials, currentCid === null ? 'create' : 'update', write.collection)
      if (currentCid === write.cid.toString()) {
        // unchanged: no empty commit, same answer as the reference
        return json({ uri: write.uri, cid: currentCid, validationStatus: write.validationStatus })
      }
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
