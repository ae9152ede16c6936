import type { Route } from '../../../util.ts'
import type { RefreshCredentials } from '../../../../auth/auth-verifier.ts'

export const deleteSession: Route = (server, ctx) => {
  server.method('com.atproto.server.deleteSession', {
    auth: ctx.auth.refresh,
    handler: async ({ auth }) => {
      const { jti } = (auth as { credentials: RefreshCredentials }).credentials
      await ctx.accounts.revokeRefreshToken(jti)
    },
  })
}
