import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'

export const enableAccountInvites: Route = (server, ctx) => {
  server.add(com.atproto.admin.enableAccountInvites, {
    auth: ctx.auth.admin,
    handler: async ({ input }) => {
      await ctx.accountAdmin.setInvitesDisabled(input.body.account, false)
    },
  })
}
