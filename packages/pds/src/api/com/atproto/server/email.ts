import type { ComAtprotoServerConfirmEmail } from '@atproto/api'
import type { Route, AccessAuth } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'

export const requestEmailConfirmation: Route = (server, ctx) => {
  server.method('com.atproto.server.requestEmailConfirmation', {
    auth: ctx.auth.accessStandard({ allowDeactivated: true }),
    handler: async ({ auth }) => {
      const { did } = (auth as AccessAuth).credentials
      const acc = await ctx.accounts.getAccount(did)
      if (!acc?.email) throw new InvalidRequest('account has no email address')
      const token = await ctx.accounts.createEmailToken(did, 'confirm_email')
      await ctx.mailer.sendToken(acc.email, 'confirm_email', token, 'confirm your email')
    },
  })
}

export const confirmEmail: Route = (server, ctx) => {
  server.method('com.atproto.server.confirmEmail', {
    auth: ctx.auth.accessStandard({ allowDeactivated: true }),
    handler: async ({ auth, input }) => {
      const { did } = (auth as AccessAuth).credentials
      const body = input!.body as ComAtprotoServerConfirmEmail.InputSchema
      const acc = await ctx.accounts.getAccount(did)
      if (!acc?.email || acc.email !== body.email.toLowerCase()) {
        throw new InvalidRequest('invalid email', 'InvalidEmail')
      }
      await ctx.accounts.consumeEmailToken('confirm_email', body.token, did)
      await ctx.accounts.confirmEmail(did)
    },
  })
}
