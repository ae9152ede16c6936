import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'
import { AuthError, InvalidRequest } from '../../../../errors.ts'
import { purgeAccount } from '../../../../account/purge-account.ts'
import { byAccount, byAddress } from '../../../../rate-limits.ts'

export const requestAccountDelete: Route = (server, ctx) => {
  server.add(com.atproto.server.requestAccountDelete, {
    rateLimit: ctx.rateLimits.route(['request-email-token', byAccount]),
    auth: ctx.auth.accessFull({ allowDeactivated: true }),
    handler: async ({ auth }) => {
      const { did } = auth.credentials
      const acc = await ctx.accounts.getAccount(did)
      if (!acc?.email) throw new InvalidRequest('account has no email address')
      const token = await ctx.accounts.createEmailToken(did, 'delete_account')
      await ctx.mailer.sendToken(acc.email, 'delete_account', token, 'delete your account')
    },
  })
}

export const deleteAccount: Route = (server, ctx) => {
  server.add(com.atproto.server.deleteAccount, {
    rateLimit: ctx.rateLimits.route(['confirm-token', byAddress]),
    handler: async ({ input: { body } }) => {
      const acc = await ctx.accounts.getAccount(body.did)
      const ok = acc ? await ctx.accounts.verifyLogin(acc, body.password) : null
      // only the account password, never an app password, may delete the account
      if (!acc || !ok || ok.appPassword) throw new AuthError('Invalid did or password')
      await ctx.accounts.consumeEmailToken('delete_account', body.token, acc.did)
      await purgeAccount(ctx, acc.did, 'owner')
    },
  })
}
