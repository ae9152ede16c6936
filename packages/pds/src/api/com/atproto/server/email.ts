import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { checkEmail } from '../../../../account/handle.ts'
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

/**
 * Changing the address (or the emailed sign-in code): a confirmed address
 * must approve it with a code mailed to it (`tokenRequired`); an unconfirmed
 * one may be replaced at once.
 */
export const requestEmailUpdate: Route = (server, ctx) => {
  server.add(com.atproto.server.requestEmailUpdate, {
    rateLimit: ctx.rateLimits.route(['request-email-token', byAccount]),
    auth: ctx.auth.accessFull({ allowDeactivated: true, oauth: (p) => p.assertAccount({ attr: 'email', action: 'manage' }) }),
    handler: async ({ auth }) => {
      const acc = await ctx.accounts.getAccount(auth.credentials.did)
      if (!acc) throw new InvalidRequest('account not found')
      const tokenRequired = acc.email !== null && acc.emailConfirmedAt !== null
      if (tokenRequired) {
        const token = await ctx.accounts.createEmailToken(acc.did, 'update_email')
        await ctx.mailer.sendToken(acc.email!, 'update_email', token, 'change your email settings')
      }
      return json({ tokenRequired })
    },
  })
}

export const updateEmail: Route = (server, ctx) => {
  server.add(com.atproto.server.updateEmail, {
    rateLimit: ctx.rateLimits.route(['confirm-email-token', byAccount]),
    auth: ctx.auth.accessFull({ allowDeactivated: true, oauth: (p) => p.assertAccount({ attr: 'email', action: 'manage' }) }),
    handler: async ({ auth, input: { body } }) => {
      const { did } = auth.credentials
      const acc = await ctx.accounts.getAccount(did)
      if (!acc) throw new InvalidRequest('account not found')
      const email = checkEmail(body.email)
      if (acc.email !== null && acc.emailConfirmedAt !== null) {
        if (!body.token) throw new InvalidRequest('confirmation token required: call requestEmailUpdate, then pass the mailed code as `token`', 'TokenRequired')
        await ctx.accounts.consumeEmailToken('update_email', body.token, did)
      }
      if (email !== acc.email) {
        if (await ctx.accounts.isEmailTaken(email)) throw new InvalidRequest('This email address is already in use, please use a different email.')
        // the new address starts unconfirmed, and sign-in codes go off with it
        await ctx.accounts.updateEmail(did, email)
        if (body.emailAuthFactor) {
          throw new InvalidRequest('the address was changed, but sign-in codes need a confirmed address: confirm it first, then turn them on')
        }
        return
      }
      if (body.emailAuthFactor !== undefined) {
        if (body.emailAuthFactor && acc.emailConfirmedAt === null) {
          throw new InvalidRequest('sign-in codes need a confirmed address: confirm it first (requestEmailConfirmation)')
        }
        await ctx.accounts.setEmailAuthFactor(did, body.emailAuthFactor)
      }
    },
  })
}
