import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { loadAccountViews } from './util.ts'

export const getAccountInfo: Route = (server, ctx) => {
  server.add(com.atproto.admin.getAccountInfo, {
    auth: ctx.auth.admin,
    handler: async ({ params }) => {
      const [view] = await loadAccountViews(ctx, await ctx.accountAdmin.getAccounts([params.did]))
      // the reference's error for an unknown account
      if (!view) throw new InvalidRequest('Account not found', 'NotFound')
      return json(view)
    },
  })
}
