import { json, type AccessAuth, type Route } from '../../../util.ts'
import { AuthError } from '../../../../errors.ts'
import { sessionView } from './session.ts'

export const getSession: Route = (server, ctx) => {
  server.method('com.atproto.server.getSession', {
    auth: ctx.auth.accessStandard({ allowDeactivated: true }),
    handler: async ({ auth }) => {
      const { did, isAppPassword } = (auth as AccessAuth).credentials
      const acc = await ctx.accounts.getAccount(did)
      if (!acc) throw new AuthError('Account not found', 'AccountNotFound')
      const view = await sessionView(ctx, acc, { withDidDoc: true })
      return json({ ...view, email: isAppPassword ? undefined : view.email })
    },
  })
}
