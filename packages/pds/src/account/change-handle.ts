import { checkHandleForDid } from './handle.ts'
import { InvalidRequest } from '../errors.ts'
import { identityEvent } from '../sequencer/events.ts'
import type { AppContext } from '../context.ts'

/**
 * An account's new handle (a service-domain one, or a domain that points at
 * the DID): the PLC directory first, so a refusal there changes nothing here,
 * then the account row, then `#identity`. The same handle again changes
 * nothing but is still announced: clients use that to make relays and app
 * views re-resolve the identity.
 */
export const changeHandle = async (ctx: AppContext, did: string, input: string): Promise<void> => {
  const handle = await checkHandleForDid(input, did, ctx.cfg.identity.serviceHandleDomains, ctx.handleResolver)
  const owner = await ctx.accounts.getAccount(handle)
  if (owner && owner.did !== did) throw new InvalidRequest(`Handle already taken: ${handle}`, 'HandleNotAvailable')
  if (owner?.did !== did) {
    if (did.startsWith('did:plc:')) await ctx.plc.updateHandle(did, handle)
    await ctx.accounts.updateHandle(did, handle)
  }
  ctx.announce(identityEvent(did, handle))
}
