import type { ComAtprotoServerGetServiceAuth } from '@atproto/api'
import { createServiceJwt } from '@atproto/xrpc-server'
import { json, type AccessAuth, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'

const MAX_EXP_S = 60 * 60

export const getServiceAuth: Route = (server, ctx) => {
  server.method('com.atproto.server.getServiceAuth', {
    auth: ctx.auth.accessStandard(),
    handler: async ({ auth, params }) => {
      const { did, isAppPassword } = (auth as AccessAuth).credentials
      const p = params as ComAtprotoServerGetServiceAuth.QueryParams
      const now = Math.floor(Date.now() / 1000)
      if (p.exp !== undefined) {
        if (p.exp <= now) throw new InvalidRequest('expiration is in the past', 'BadExpiration')
        if (p.exp - now > MAX_EXP_S) throw new InvalidRequest('expiration may be at most one hour away', 'BadExpiration')
      }
      if (!p.lxm && isAppPassword) {
        throw new InvalidRequest('app-password sessions must name the method (lxm) a service token is for')
      }
      const token = await createServiceJwt({
        iss: did,
        aud: p.aud,
        exp: p.exp,
        lxm: p.lxm ?? null,
        keypair: await ctx.actorStore.keypair(did),
      })
      return json({ token })
    },
  })
}
