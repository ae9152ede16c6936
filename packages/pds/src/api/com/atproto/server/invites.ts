import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'

export const createInviteCode: Route = (server, ctx) => {
  server.add(com.atproto.server.createInviteCode, {
    auth: ctx.auth.admin,
    handler: async ({ input: { body } }) => {
      const [code] = await ctx.accounts.createInviteCodes({
        forAccount: body.forAccount ?? 'admin',
        createdBy: 'admin',
        useCount: body.useCount,
        count: 1,
        hostname: ctx.cfg.service.hostname,
      })
      return json({ code })
    },
  })
}

export const createInviteCodes: Route = (server, ctx) => {
  server.add(com.atproto.server.createInviteCodes, {
    auth: ctx.auth.admin,
    handler: async ({ input: { body } }) => {
      const accounts = body.forAccounts?.length ? body.forAccounts : ['admin']
      const codes = []
      for (const account of accounts) {
        codes.push({
          account,
          codes: await ctx.accounts.createInviteCodes({
            forAccount: account,
            createdBy: 'admin',
            useCount: body.useCount,
            count: Math.min(body.codeCount, 1000),
            hostname: ctx.cfg.service.hostname,
          }),
        })
      }
      return json({ codes })
    },
  })
}
