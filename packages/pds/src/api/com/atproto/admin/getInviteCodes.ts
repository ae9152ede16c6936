import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { inviteCodeView } from './views.ts'

/** Every invite code, `recent` (newest first) or `usage` (most used first), with keyset cursors. */
export const getInviteCodes: Route = (server, ctx) => {
  server.add(com.atproto.admin.getInviteCodes, {
    auth: ctx.auth.admin,
    handler: async ({ params }) => {
      const { codes, cursor } = await ctx.accountAdmin.listInviteCodes({
        sort: params.sort,
        limit: params.limit,
        cursor: params.cursor,
      })
      return json({ cursor, codes: codes.map(inviteCodeView) })
    },
  })
}
