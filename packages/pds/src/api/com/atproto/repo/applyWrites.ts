import type { ComAtprotoRepoApplyWrites } from '@atproto/api'
import { assertOwnRepo, json, type AccessAuth, type Route } from '../../../util.ts'
import { prepareCreate, prepareDelete, prepareUpdate, type PreparedWrite } from '../../../../repo/prepare.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { parseSwap, rawRecord } from './util.ts'

const CREATE = 'com.atproto.repo.applyWrites#create'
const UPDATE = 'com.atproto.repo.applyWrites#update'
const DELETE = 'com.atproto.repo.applyWrites#delete'

export const applyWrites: Route = (server, ctx) => {
  server.method('com.atproto.repo.applyWrites', {
    auth: ctx.auth.accessStandard(),
    opts: { jsonLimit: 10 * 1024 * 1024 },
    handler: async ({ auth, input, req }) => {
      const body = input!.body as ComAtprotoRepoApplyWrites.InputSchema
      const did = await assertOwnRepo(ctx, auth as AccessAuth, body.repo)
      if (body.writes.length > ctx.cfg.writeLimits.maxApplyWrites) {
        throw new InvalidRequest(`Too many writes. Max: ${ctx.cfg.writeLimits.maxApplyWrites}`)
      }
      const rawWrites = (rawRecord(req)?.writes ?? []) as { value?: unknown }[]
      const prepared: PreparedWrite[] = []
      for (let i = 0; i < body.writes.length; i++) {
        const w = body.writes[i] as { $type?: string; collection: string; rkey?: string; value?: unknown }
        const opts = { did, collection: w.collection, record: w.value, rawRecord: rawWrites[i]?.value, validate: body.validate }
        if (w.$type === CREATE) prepared.push(await prepareCreate({ ...opts, rkey: w.rkey }))
        else if (w.$type === UPDATE) prepared.push(await prepareUpdate({ ...opts, rkey: w.rkey as string }))
        else if (w.$type === DELETE) prepared.push(prepareDelete({ did, collection: w.collection, rkey: w.rkey as string }))
        else throw new InvalidRequest(`Unknown write type: ${String(w.$type)}`)
      }
      const res = await ctx.repoWriter.processWrites(did, prepared, parseSwap(body.swapCommit))
      return json({
        commit: { cid: res.cid.toString(), rev: res.rev },
        results: res.results.map((r) =>
          r.action === 'delete'
            ? { $type: `${DELETE}Result` }
            : {
                $type: r.action === 'create' ? `${CREATE}Result` : `${UPDATE}Result`,
                uri: r.uri,
                cid: r.cid!.toString(),
                validationStatus: r.validationStatus,
              },
        ),
      })
    },
  })
}
