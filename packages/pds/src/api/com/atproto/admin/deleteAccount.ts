import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'
import { purgeAccount } from '../../../../account/purge-account.ts'
import { findAccount } from './util.ts'

/** Deletes the account as its owner's server.deleteAccount would, without password or email token. */
export const deleteAccount: Route = (server, ctx) => {
  server.add(com.atproto.admin.deleteAccount, {
    auth: ctx.auth.admin,
    handler: async ({ input }) => {
      const acc = await findAccount(ctx, input.body.did)
      await purgeAccount(ctx, acc.did, 'admin')
    },
  })
}
