import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'

export const deleteSession: Route = (server, ctx) => {
  server.add(com.atproto.server.deleteSession, {
    auth: ctx.auth.refresh,
    handler: async ({ auth }) => {
      const { jti } = auth.credentials
      await ctx.accounts.revokeRefreshToken(jti)
    },
  })
}
