import { com } from '@atsuite/lexicon/com'
import { findRepoAccount, json, type Route } from '../../../util.ts'
import { accountStatus } from '../../../../account/account-manager.ts'

export const getRepoStatus: Route = (server, ctx) => {
  server.add(com.atproto.sync.getRepoStatus, {
    handler: async ({ params: p }) => {
      const acc = await findRepoAccount(ctx, p.did, { allowInactive: true })
      const status = accountStatus(acc)
      const root = ctx.repoReader.root(acc.did)
      return json({
        did: acc.did,
        active: status === 'active',
        status: status === 'active' ? undefined : status,
        rev: root?.rev,
      })
    },
  })
}
