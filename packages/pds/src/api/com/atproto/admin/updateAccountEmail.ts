import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'
import { findAccount } from './util.ts'

/** The new address is unconfirmed; tokens mailed to the old one stop working. */
export const updateAccountEmail: Route = (server, ctx) => {
  server.add(com.atproto.admin.updateAccountEmail, {
    auth: ctx.auth.admin,
    handler: async ({ input }) => {
      const acc = await findAccount(ctx, input.body.account)
      await ctx.accountAdmin.updateEmail(acc.did, input.body.email)
    },
  })
}
