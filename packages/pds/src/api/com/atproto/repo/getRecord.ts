import { com } from '@atsuite/lexicon/com'
import { findRepoAccount, json, type Route } from '../../../util.ts'
import { assertCollection } from '../../../../repo/prepare.ts'
import { RecordNotFoundError } from '../../../../errors.ts'

export const getRecord: Route = (server, ctx) => {
  server.add(com.atproto.repo.getRecord, {
    handler: async ({ params: p }) => {
      assertCollection(p.collection)
      const acc = await findRepoAccount(ctx, p.repo)
      const rec = ctx.repoReader.getRecord(acc.did, p.collection, p.rkey, p.cid)
      if (!rec) throw new RecordNotFoundError(`Could not locate record: at://${acc.did}/${p.collection}/${p.rkey}`)
      return json(rec)
    },
  })
}
