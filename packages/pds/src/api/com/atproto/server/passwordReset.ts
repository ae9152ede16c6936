import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'
import { checkPassword } from '../../../../account/handle.ts'
import { byAddress } from '../../../../rate-limits.ts'

export const requestPasswordReset: Route = (server, ctx) => {
  server.add(com.atproto.server.requestPasswordReset, {
    rateLimit: ctx.rateLimits.route(['request-password-reset', byAddress]),
    handler: async ({ input: { body } }) => {
      const acc = await ctx.accounts.getAccountByEmail(body.email)
      // same answer whether or not the address is known
      if (!acc?.email) return
      const token = await ctx.accounts.createEmailToken(acc.did, 'reset_password')
      await ctx.mailer.sendToken(acc.email, 'reset_password', token, 'reset your password')
    },
  })
}

export const resetPassword: Route = (server, ctx) => {
  server.add(com.atproto.server.resetPassword, {
    rateLimit: ctx.rateLimits.route(['confirm-token', byAddress]),
    handler: async ({ input: { body } }) => {
      checkPassword(body.password)
      const did = await ctx.accounts.consumeEmailToken('reset_password', body.token)
      await ctx.accounts.updatePassword(did, body.password)
    },
  })
}
