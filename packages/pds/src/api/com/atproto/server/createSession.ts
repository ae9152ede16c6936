import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { AuthError } from '../../../../errors.ts'
import { sessionView } from './session.ts'
import { mailSignInCode, maskedEmail, needsSignInCode } from '../../../../account/sign-in-code.ts'
import { byAddress, sessionIdentifier } from '../../../../rate-limits.ts'

export const createSession: Route = (server, ctx) => {
  server.add(com.atproto.server.createSession, {
    rateLimit: ctx.rateLimits.route(['create-session', (c) => `${sessionIdentifier(c)} ${byAddress(c)}`], ['create-session-account', sessionIdentifier]),
    handler: async ({ input: { body } }) => {
      const id = body.identifier.trim()
      const acc = id.includes('@') ? await ctx.accounts.getAccountByEmail(id) : await ctx.accounts.getAccount(id)
      const login = acc ? await ctx.accounts.verifyLogin(acc, body.password) : null
      if (!acc || !login) throw new AuthError('Invalid identifier or password')
      if (acc.takedownRef) throw new AuthError('Account has been taken down', 'AccountTakedown')
      if (!login.appPassword && needsSignInCode(acc)) {
        if (!body.authFactorToken) {
          await mailSignInCode(ctx, acc)
          throw new AuthError(`A sign-in code has been sent to ${maskedEmail(acc.email!)}: send it as authFactorToken`, 'AuthFactorTokenRequired')
        }
        await ctx.accounts.consumeEmailToken('sign_in', body.authFactorToken, acc.did)
      }
      const session = await ctx.accounts.createSession(acc.did, login.appPassword)
      const view = await sessionView(ctx, acc, { withDidDoc: true })
      return json({ ...view, ...session, email: login.appPassword ? undefined : view.email })
    },
  })
}
