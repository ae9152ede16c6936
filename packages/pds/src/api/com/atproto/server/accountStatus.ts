import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { getPdsEndpoint, getSigningDidKey } from '@atproto/common-web'
import { accountEvent, identityEvent } from '../../../../sequencer/events.ts'
import { resolveDidDoc } from './session.ts'
import type { AppContext } from '../../../../context.ts'

/**
 * Why the account's DID document (resolved afresh) does not make it live
 * here — it names another PDS, or not the account's signing key here — or
 * null when it does: checkAccountStatus's `validDid`, activateAccount's
 * precondition.
 */
const whyDidDocIsNotHere = async (ctx: AppContext, did: string): Promise<string | null> => {
  const doc = await resolveDidDoc(ctx, did)
  if (!doc) return `could not resolve ${did}'s DID document`
  const endpoint = getPdsEndpoint(doc as never)
  if (endpoint !== ctx.cfg.service.publicUrl) {
    return `${did}'s DID document names ${endpoint ?? 'no PDS'}, not this server (${ctx.cfg.service.publicUrl}): update it first (submitPlcOperation)`
  }
  const key = (await ctx.actorStore.keypair(did)).did()
  if (getSigningDidKey(doc as never) !== key) {
    return `${did}'s DID document does not name this account's signing key here (${key}): update it first`
  }
  return null
}

export const checkAccountStatus: Route = (server, ctx) => {
  server.add(com.atproto.server.checkAccountStatus, {
    auth: ctx.auth.accessStandard({ allowDeactivated: true }),
    handler: async ({ auth }) => {
      const { did } = auth.credentials
      const acc = await ctx.accounts.getAccount(did)
      const { root, stats } = ctx.actorStore.read(did, (db) => ({ root: db.getRoot(), stats: db.stats() }))
      const validDid = (await whyDidDocIsNotHere(ctx, did)) === null
      return json({
        activated: !acc?.deactivatedAt,
        validDid,
        repoCommit: root?.cid ?? '',
        repoRev: root?.rev ?? '',
        repoBlocks: stats.blocks,
        indexedRecords: stats.records,
        privateStateValues: stats.prefs,
        expectedBlobs: stats.expectedBlobs,
        importedBlobs: stats.importedBlobs,
      })
    },
  })
}

export const activateAccount: Route = (server, ctx) => {
  server.add(com.atproto.server.activateAccount, {
    auth: ctx.auth.accessFull({ allowDeactivated: true, oauth: (p) => p.assertAccount({ attr: 'status', action: 'manage' }) }),
    handler: async ({ auth }) => {
      const { did } = auth.credentials
      // the account must live here before it goes live
      const problem = await whyDidDocIsNotHere(ctx, did)
      if (problem) throw new InvalidRequest(problem)
      // an imported head is signed by the old host: sign it with ours so getRepo verifies at once
      const resigned = await ctx.repoWriter.resignHead(did)
      if (resigned) ctx.accounts.setRepoRoot(did, resigned.cid.toString(), resigned.rev)
      await ctx.accounts.setDeactivated(did, false)
      const acc = await ctx.accounts.getAccount(did)
      ctx.announce(identityEvent(did, acc?.handle ?? undefined))
      ctx.announceActivation(did)
    },
  })
}

export const deactivateAccount: Route = (server, ctx) => {
  server.add(com.atproto.server.deactivateAccount, {
    auth: ctx.auth.accessFull({ allowDeactivated: true, oauth: (p) => p.assertAccount({ attr: 'status', action: 'manage' }) }),
    handler: async ({ auth, input: { body } }) => {
      if (body.deleteAfter && Number.isNaN(Date.parse(body.deleteAfter))) {
        throw new InvalidRequest('deleteAfter must be a datetime')
      }
      const { did } = auth.credentials
      await ctx.accounts.setDeactivated(did, true, body.deleteAfter)
      ctx.announce(accountEvent(did, false, 'deactivated'))
    },
  })
}
