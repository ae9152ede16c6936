import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'

/** Disables the listed codes and all codes owned by the listed accounts; unknown codes are ignored. */
export const disableInviteCodes: Route = (server, ctx) => {
  server.add(com.atproto.admin.disableInviteCodes, {
    auth: ctx.auth.admin,
    handler: async ({ input }) => {
      await ctx.accountAdmin.disableInviteCodes({ codes: input.body.codes ?? [], accounts: input.body.accounts ?? [] })
    },
  })
}
