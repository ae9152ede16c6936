import type { ComAtprotoIdentityUpdateHandle } from '@atproto/api'
import { type AccessAuth, type Route } from '../../../util.ts'
import { checkServiceHandle } from '../../../../account/handle.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { identityEvent } from '../../../../sequencer/events.ts'

export const updateHandle: Route = (server, ctx) => {
  server.method('com.atproto.identity.updateHandle', {
    auth: ctx.auth.accessPrivileged(),
    handler: async ({ auth, input }) => {
      const { did } = (auth as AccessAuth).credentials
      const body = input!.body as ComAtprotoIdentityUpdateHandle.InputSchema
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
