import { com } from '@atsuite/lexicon/com'
import { createServiceJwt } from '@atproto/xrpc-server'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { AuthScope } from '../../../../auth/jwt.ts'
import { checkRpcScope } from '../../../../auth/scopes.ts'
import { isPrivilegedMethod, isProtectedMethod } from '../../../../auth/method-policy.ts'

const MAX_EXP_S = 60 * 60
/** A token without `lxm` is good for any method, so it may only live a minute. */
const MAX_METHODLESS_EXP_S = 60

export const getServiceAuth: Route = (server, ctx) => {
  server.add(com.atproto.server.getServiceAuth, {
    auth: ctx.auth.accessStandard(),
    handler: async ({ auth, params: p }) => {
      const { did, scope, isAppPassword } = auth.credentials
      const now = Math.floor(Date.now() / 1000)
      if (p.exp !== undefined) {
        if (p.exp <= now) throw new InvalidRequest('expiration is in the past', 'BadExpiration')
        if (p.exp - now > MAX_EXP_S) throw new InvalidRequest('expiration may be at most one hour away', 'BadExpiration')
        if (!p.lxm && p.exp - now > MAX_METHODLESS_EXP_S) {
          throw new InvalidRequest('a token without lxm may expire at most a minute away', 'BadExpiration')
        }
      }
      if (p.lxm && isProtectedMethod(p.lxm)) {
        throw new InvalidRequest(`cannot issue a service token for the protected method ${p.lxm}`)
      }
      if (p.lxm && scope === AuthScope.AppPass && isPrivilegedMethod(p.lxm)) {
        throw new InvalidRequest(`this app password may not request a service token for ${p.lxm}`)
      }
      // an OAuth app may only mint tokens for the methods and services it was granted
      if (auth.credentials.permissions && !p.lxm) throw new InvalidRequest('OAuth sessions must name the method (lxm) a service token is for')
      if (p.lxm) checkRpcScope(auth.credentials, p.lxm, p.aud)
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
