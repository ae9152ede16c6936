import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { byAccount } from '../../../../rate-limits.ts'

// App passwords are account management: full sessions only.

export const createAppPassword: Route = (server, ctx) => {
  server.add(com.atproto.server.createAppPassword, {
    rateLimit: ctx.rateLimits.route(['create-app-password', byAccount]),
    auth: ctx.auth.accessFull(),
    handler: async ({ auth, input: { body } }) => {
      const name = body.name.trim()
      if (name.length === 0 || name.length > 64) throw new InvalidRequest('App password name must be 1-64 characters')
      const ap = await ctx.accounts.createAppPassword(auth.credentials.did, name, body.privileged ?? false)
      return json(ap)
    },
  })
}

export const listAppPasswords: Route = (server, ctx) => {
  server.add(com.atproto.server.listAppPasswords, {
    auth: ctx.auth.accessFull(),
    handler: async ({ auth }) =>
      json({ passwords: await ctx.accounts.listAppPasswords(auth.credentials.did) }),
  })
}

export const revokeAppPassword: Route = (server, ctx) => {
  server.add(com.atproto.server.revokeAppPassword, {
    auth: ctx.auth.accessFull(),
    handler: async ({ auth, input: { body } }) => {
      await ctx.accounts.revokeAppPassword(auth.credentials.did, body.name)
    },
  })
}
