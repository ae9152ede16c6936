import { com } from '@atsuite/lexicon'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { accountEvent } from '../../../../sequencer/events.ts'

export const checkAccountStatus: Route = (server, ctx) => {
  server.add(com.atproto.server.checkAccountStatus, {
    auth: ctx.auth.accessStandard({ allowDeactivated: true }),
    handler: async ({ auth }) => {
      const { did } = auth.credentials
      const acc = await ctx.accounts.getAccount(did)
      const { root, stats } = ctx.actorStore.read(did, (db) => ({ root: db.getRoot(), stats: db.stats() }))
      let validDid = false
      try {
        const data = await ctx.plc.getData(did)
        validDid =
          data.services?.atproto_pds?.endpoint === ctx.cfg.service.publicUrl &&
          data.verificationMethods?.atproto === (await ctx.actorStore.keypair(did)).did()
      } catch {
        validDid = false
      }
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
    auth: ctx.auth.accessFull({ allowDeactivated: true }),
    handler: async ({ auth }) => {
      const { did } = auth.credentials
      await ctx.accounts.setDeactivated(did, false)
      ctx.announceActivation(did)
    },
  })
}

export const deactivateAccount: Route = (server, ctx) => {
  server.add(com.atproto.server.deactivateAccount, {
    auth: ctx.auth.accessFull({ allowDeactivated: true }),
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
