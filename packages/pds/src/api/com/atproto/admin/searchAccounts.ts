import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { loadAccountViews } from './util.ts'

/** Accounts whose email contains `email`, in DID order; the cursor is the last DID returned. */
export const searchAccounts: Route = (server, ctx) => {
  server.add(com.atproto.admin.searchAccounts, {
    auth: ctx.auth.admin,
    handler: async ({ params }) => {
      const { accounts, cursor } = await ctx.accountAdmin.searchAccounts({
        email: params.email,
        cursor: params.cursor,
        limit: params.limit,
      })
      return json({ cursor, accounts: await loadAccountViews(ctx, accounts) })
    },
  })
}
