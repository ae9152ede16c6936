import type { ComAtprotoServerDeactivateAccount } from '@atproto/api'
import { json, type AccessAuth, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { accountEvent } from '../../../../sequencer/events.ts'

export const checkAccountStatus: Route = (server, ctx) => {
  server.method('com.atproto.server.checkAccountStatus', {
    auth: ctx.auth.accessStandard({ allowDeactivated: true }),
    handler: async ({ auth }) => {
      const { did } = (auth as AccessAuth).credentials
      const acc = await ctx.accounts.getAccount(did)
      const db = ctx.actorStore.db(did)
      const root = db.getRoot()
      const stats = db.stats()
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
  server.method('com.atproto.server.activateAccount', {
    auth: ctx.auth.accessFull({ allowDeactivated: true }),
    handler: async ({ auth }) => {
      const { did } = (auth as AccessAuth).credentials
      await ctx.accounts.setDeactivated(did, false)
      ctx.announceActivation(did)
    },
  })
}

export const deactivateAccount: Route = (server, ctx) => {
  server.method('com.atproto.server.deactivateAccount', {
    auth: ctx.auth.accessFull({ allowDeactivated: true }),
    handler: async ({ auth, input }) => {
      const body = (input?.body ?? {}) as ComAtprotoServerDeactivateAccount.InputSchema
      if (body.deleteAfter && Number.isNaN(Date.parse(body.deleteAfter))) {
        throw new InvalidRequest('deleteAfter must be a datetime')
      }
      const { did } = (auth as AccessAuth).credentials
      await ctx.accounts.setDeactivated(did, true, body.deleteAfter)
      ctx.announce(accountEvent(did, false, 'deactivated'))
    },
  })
}
