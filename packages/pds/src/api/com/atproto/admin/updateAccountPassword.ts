import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'
import { checkPassword } from '../../../../account/handle.ts'
import { findAccount } from './util.ts'

/**
 * Sets the account password and, as the reference does, ends every session
 * (refresh tokens revoked; issued access tokens run out on their own) and
 * drops any pending password-reset token. App passwords are kept.
 */
export const updateAccountPassword: Route = (server, ctx) => {
  server.add(com.atproto.admin.updateAccountPassword, {
    auth: ctx.auth.admin,
    handler: async ({ input }) => {
      const acc = await findAccount(ctx, input.body.did)
      checkPassword(input.body.password)
      await ctx.accounts.updatePassword(acc.did, input.body.password)
      await ctx.accountAdmin.dropPasswordResetToken(acc.did)
    },
  })
}
