import type { ComAtprotoIdentityResolveHandle } from '@atproto/api'
import { normalizeHandle, isValidHandle } from '@atproto/syntax'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'

export const resolveHandle: Route = (server, ctx) => {
  server.method('com.atproto.identity.resolveHandle', {
    handler: async ({ params }) => {
      const p = params as ComAtprotoIdentityResolveHandle.QueryParams
      const handle = normalizeHandle(p.handle)
      if (!isValidHandle(handle)) throw new InvalidRequest(`Invalid handle: ${p.handle}`, 'InvalidRequest')
      const acc = await ctx.accounts.getAccount(handle)
      if (acc && !acc.takedownRef) return json({ did: acc.did })
      const isLocalDomain = ctx.cfg.identity.serviceHandleDomains.some((d) => handle.endsWith(d))
      if (!isLocalDomain) {
        const did = await ctx.idResolver.handle.resolve(handle).catch(() => undefined)
        if (did) return json({ did })
      }
      throw new InvalidRequest(`Unable to resolve handle: ${handle}`, 'HandleNotFound')
    },
  })
}
