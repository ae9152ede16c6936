import type { AppContext } from '../context.ts'
import { accountLogger } from '../logger.ts'
import { accountEvent } from '../sequencer/events.ts'

/**
 * Deletes a hosted account, for its owner (server.deleteAccount) and for the
 * operator (admin.deleteAccount) alike, in the reference PDS's order: the
 * repo store (waiting for writes in flight) and its blobs, then the account
 * rows (sessions, app passwords, tokens, repo head), then `#account` with
 * status `deleted` on the firehose. The rows go last so that a failure
 * anywhere leaves an account that can be deleted again, never files that
 * nothing points at. Never checks who asks (callers do).
 */
export const purgeAccount = async (ctx: AppContext, did: string, by: 'owner' | 'admin'): Promise<void> => {
  await ctx.actorStore.destroy(did)
  await ctx.blobstore.deleteAll(did)
  await ctx.accounts.deleteAccount(did)
  ctx.announce(accountEvent(did, false, 'deleted'))
  accountLogger.info({ did, by }, 'account deleted')
}
