import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { AuthError } from '../../../../errors.ts'
import { sessionView } from './session.ts'

export const getSession: Route = (server, ctx) => {
  server.add(com.atproto.server.getSession, {
    auth: ctx.auth.accessStandard({ allowDeactivated: true }),
    handler: async ({ auth }) => {
      const { did, isAppPassword } = auth.credentials
      const acc = await ctx.accounts.getAccount(did)
      if (!acc) throw new AuthError('Account not found', 'AccountNotFound')
      const view = await sessionView(ctx, acc, { withDidDoc: true })
      return json({ ...view, email: isAppPassword ? undefined : view.email })
    },
  })
}
