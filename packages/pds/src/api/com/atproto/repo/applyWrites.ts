import { com } from '@atsuite/lexicon/com'
import { assertOwnRepo, json, type Route } from '../../../util.ts'
import { prepareCreate, prepareDelete, prepareUpdate, type PreparedWrite } from '../../../../repo/prepare.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { parseSwap, rawRecord } from './util.ts'
import { checkRepoScope } from '../../../../auth/scopes.ts'

const lex = com.atproto.repo.applyWrites

/** Rate-limit points of a batch, as the reference counts them: create 3, update 2, delete 1. */
const applyWritesPoints = (c: { input?: unknown }): number => {
  const writes = (c.input as { body?: { writes?: { $type?: string }[] } } | undefined)?.body?.writes ?? []
  let points = 0
  for (const w of writes) points += w.$type === lex.create.$type ? 3 : w.$type === lex.update.$type ? 2 : 1
  return points
}

export const applyWrites: Route = (server, ctx) => {
  server.add(lex, {
    rateLimit: ctx.rateLimits.repoWrite(applyWritesPoints),
    auth: ctx.auth.accessStandard(),
    opts: { jsonLimit: 10 * 1024 * 1024 },
    handler: async ({ auth, input: { body }, req }) => {
      const did = await assertOwnRepo(ctx, auth, body.repo)
      if (body.writes.length > ctx.cfg.writeLimits.maxApplyWrites) {
        throw new InvalidRequest(`Too many writes. Max: ${ctx.cfg.writeLimits.maxApplyWrites}`)
      }
      const prepared: PreparedWrite[] = []
      for (const w of body.writes) {
        const action = w.$type === lex.create.$type ? 'create' : w.$type === lex.update.$type ? 'update' : 'delete'
        checkRepoScope(auth.credentials, action, w.collection)
      }
      for (const [i, w] of body.writes.entries()) {
        const record = { did, collection: w.collection, validate: body.validate }
        if (w.$type === lex.create.$type) {
          prepared.push(await prepareCreate({ ...record, rkey: w.rkey, record: rawRecord(req, 'writes', i, 'value') }))
        } else if (w.$type === lex.update.$type) {
          prepared.push(await prepareUpdate({ ...record, rkey: w.rkey, record: rawRecord(req, 'writes', i, 'value') }))
        } else if (w.$type === lex.delete.$type) {
          prepared.push(prepareDelete({ did, collection: w.collection, rkey: w.rkey }))
        } else {
          // unreachable: the lexicon's union is closed
          throw new InvalidRequest(`Unknown write type in writes[${i}]`)
        }
      }
      const res = await ctx.repoWriter.processWrites(did, prepared, parseSwap(body.swapCommit))
      return json({
        commit: { cid: res.cid.toString(), rev: res.rev },
        results: res.results.map((r) => {
          if (r.action === 'delete') return lex.deleteResult.build({})
          const result = { uri: r.uri, cid: r.cid.toString(), validationStatus: r.validationStatus }
          return r.action === 'create' ? lex.createResult.build(result) : lex.updateResult.build(result)
        }),
      })
    },
  })
}
