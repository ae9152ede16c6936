import { com } from '@atsuite/lexicon'
import type { Route } from '../../../util.ts'
import { checkHandleForDid } from '../../../../account/handle.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { identityEvent } from '../../../../sequencer/events.ts'
import { byAccount } from '../../../../rate-limits.ts'

export const updateHandle: Route = (server, ctx) => {
  server.add(com.atproto.identity.updateHandle, {
    rateLimit: ctx.rateLimits.route(['update-handle', byAccount]),
    auth: ctx.auth.accessPrivileged(),
    handler: async ({ auth, input: { body } }) => {
      const { did } = auth.credentials
      const handle = await checkHandleForDid(body.handle, did, ctx.cfg.identity.serviceHandleDomains, ctx.handleResolver)
      const owner = await ctx.accounts.getAccount(handle)
      if (owner && owner.did !== did) throw new InvalidRequest(`Handle already taken: ${handle}`, 'HandleNotAvailable')
      // the same handle again changes nothing but still announces it: clients
      // use that to make relays and app views re-resolve the identity
      if (owner?.did !== did) {
        // directory first: if it refuses, nothing local changes
        if (did.startsWith('did:plc:')) await ctx.plc.updateHandle(did, handle)
        await ctx.accounts.updateHandle(did, handle)
      }
      ctx.announce(identityEvent(did, handle))
    },
  })
}
