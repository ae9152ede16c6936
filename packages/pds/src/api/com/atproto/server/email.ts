import { com } from '@atsuite/lexicon'
import type { Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { byAccount } from '../../../../rate-limits.ts'

export const requestEmailConfirmation: Route = (server, ctx) => {
  server.add(com.atproto.server.requestEmailConfirmation, {
    rateLimit: ctx.rateLimits.route(['request-email-token', byAccount]),
    auth: ctx.auth.accessStandard({ allowDeactivated: true, oauth: (p) => p.assertAccount({ attr: 'email', action: 'manage' }) }),
    handler: async ({ auth }) => {
      const { did } = auth.credentials
      const acc = await ctx.accounts.getAccount(did)
      if (!acc?.email) throw new InvalidRequest('account has no email address')
      const token = await ctx.accounts.createEmailToken(did, 'confirm_email')
      await ctx.mailer.sendToken(acc.email, 'confirm_email', token, 'confirm your email')
    },
  })
}

export const confirmEmail: Route = (server, ctx) => {
  server.add(com.atproto.server.confirmEmail, {
    rateLimit: ctx.rateLimits.route(['confirm-email-token', byAccount]),
    auth: ctx.auth.accessStandard({ allowDeactivated: true, oauth: (p) => p.assertAccount({ attr: 'email', action: 'manage' }) }),
    handler: async ({ auth, input: { body } }) => {
      const { did } = auth.credentials
      const acc = await ctx.accounts.getAccount(did)
      if (!acc?.email || acc.email !== body.email.toLowerCase()) {
        throw new InvalidRequest('invalid email', 'InvalidEmail')
      }
      await ctx.accounts.consumeEmailToken('confirm_email', body.token, did)
      await ctx.accounts.confirmEmail(did)
    },
  })
}
