import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'

/** Marks the account as not to be issued invite codes; codes it already has keep working (see disableInviteCodes). */
export const disableAccountInvites: Route = (server, ctx) => {
  server.add(com.atproto.admin.disableAccountInvites, {
    auth: ctx.auth.admin,
    handler: async ({ input }) => {
      await ctx.accountAdmin.setInvitesDisabled(input.body.account, true)
    },
  })
}
