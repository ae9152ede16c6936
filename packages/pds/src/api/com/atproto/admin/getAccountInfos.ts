import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { loadAccountViews } from './util.ts'

/** Unknown DIDs are left out of the answer, as the reference does. */
export const getAccountInfos: Route = (server, ctx) => {
  server.add(com.atproto.admin.getAccountInfos, {
    auth: ctx.auth.admin,
    handler: async ({ params }) => {
      const accounts = await ctx.accountAdmin.getAccounts(params.dids)
      return json({ infos: await loadAccountViews(ctx, accounts) })
    },
  })
}
