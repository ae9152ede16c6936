import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'
import { setPlcSigningKey } from '../../../../account/account-admin.ts'
import { identityEvent } from '../../../../sequencer/events.ts'
import { findAccount } from './util.ts'

/**
 * Replaces the atproto signing key in the account's DID document (PLC op
 * signed with this server's rotation key) and announces `#identity` so
 * consumers refetch the document. The repo's own key is not changed.
 */
export const updateAccountSigningKey: Route = (server, ctx) => {
  server.add(com.atproto.admin.updateAccountSigningKey, {
    auth: ctx.auth.admin,
    handler: async ({ input }) => {
      const acc = await findAccount(ctx, input.body.did)
      await setPlcSigningKey(ctx.plc, acc.did, input.body.signingKey)
      ctx.announce(identityEvent(acc.did, acc.handle ?? undefined))
    },
  })
}
