import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'
import { checkServiceHandle } from '../../../../account/handle.ts'
import { setPlcHandle } from '../../../../account/account-admin.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { identityEvent } from '../../../../sequencer/events.ts'
import { findAccount } from './util.ts'

/**
 * The handle rules of identity.updateHandle (a service domain handle), for
 * any account whatever its status. Setting the current handle again repairs
 * the DID document if it disagrees and re-announces `#identity`.
 */
export const updateAccountHandle: Route = (server, ctx) => {
  server.add(com.atproto.admin.updateAccountHandle, {
    auth: ctx.auth.admin,
    handler: async ({ input }) => {
      const acc = await findAccount(ctx, input.body.did)
      const handle = checkServiceHandle(input.body.handle, ctx.cfg.identity.serviceHandleDomains)
      const owner = await ctx.accounts.getAccount(handle)
      if (owner && owner.did !== acc.did) throw new InvalidRequest(`Handle already taken: ${handle}`, 'HandleNotAvailable')
      // directory first: if it refuses, nothing local changes
      await setPlcHandle(ctx.plc, acc.did, handle)
      if (acc.handle !== handle) await ctx.accounts.updateHandle(acc.did, handle)
      ctx.announce(identityEvent(acc.did, handle))
    },
  })
}
