import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { AuthError } from '../../../../errors.ts'
import { sessionView } from './session.ts'

export const refreshSession: Route = (server, ctx) => {
  server.add(com.atproto.server.refreshSession, {
    auth: ctx.auth.refresh,
    handler: async ({ auth }) => {
      const { jti } = auth.credentials
      const rotated = await ctx.accounts.rotateRefreshToken(jti)
      const acc = await ctx.accounts.getAccount(rotated.did)
      if (!acc) throw new AuthError('Account not found', 'AccountNotFound')
      if (acc.takedownRef) throw new AuthError('Account has been taken down', 'AccountTakedown')
      const view = await sessionView(ctx, acc, { withDidDoc: true })
      return json({ ...view, accessJwt: rotated.accessJwt, refreshJwt: rotated.refreshJwt })
    },
  })
}
