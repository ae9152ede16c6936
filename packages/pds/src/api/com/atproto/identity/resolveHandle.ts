import { com } from '@atsuite/lexicon/com'
import { normalizeHandle, isValidDid, isValidHandle } from '@atproto/syntax'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'

export const resolveHandle: Route = (server, ctx) => {
  server.add(com.atproto.identity.resolveHandle, {
    handler: async ({ params: p }) => {
      const handle = normalizeHandle(p.handle)
      if (!isValidHandle(handle)) throw new InvalidRequest(`Invalid handle: ${p.handle}`, 'InvalidRequest')
      const acc = await ctx.accounts.getAccount(handle)
      if (acc && !acc.takedownRef) return json({ did: acc.did })
      const isLocalDomain = ctx.cfg.identity.serviceHandleDomains.some((d) => handle.endsWith(d))
      if (!isLocalDomain) {
        // what DNS or the domain's well-known answered: only a DID counts
        const did = await ctx.handleResolver.resolve(handle)
        if (isValidDid(did)) return json({ did })
      }
      throw new InvalidRequest(`Unable to resolve handle: ${handle}`, 'HandleNotFound')
    },
  })
}
