import { com } from '@atsuite/lexicon'
import type { Route } from '../../../util.ts'
import { checkServiceHandle } from '../../../../account/handle.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { identityEvent } from '../../../../sequencer/events.ts'

export const updateHandle: Route = (server, ctx) => {
  server.add(com.atproto.identity.updateHandle, {
    auth: ctx.auth.accessPrivileged(),
    handler: async ({ auth, input: { body } }) => {
      const { did } = auth.credentials
      const handle = checkServiceHandle(body.handle, ctx.cfg.identity.serviceHandleDomains)
      const owner = await ctx.accounts.getAccount(handle)
      if (owner && owner.did !== did) throw new InvalidRequest(`Handle already taken: ${handle}`, 'HandleNotAvailable')
      if (owner?.did === did) return
      // directory first: if it refuses, nothing local changes
      await ctx.plc.updateHandle(did, handle)
      await ctx.accounts.updateHandle(did, handle)
      ctx.announce(identityEvent(did, handle))
    },
  })
}
