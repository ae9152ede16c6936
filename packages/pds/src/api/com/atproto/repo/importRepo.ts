import { com } from '@atsuite/lexicon/com'
import { parseCid } from '@atproto/lex-data'
import type { Route } from '../../../util.ts'
import { syncEvent } from '../../../../sequencer/events.ts'
import { repoLogger } from '../../../../logger.ts'

export const importRepo: Route = (server, ctx) => {
  server.add(com.atproto.repo.importRepo, {
    auth: ctx.auth.accessFull({ allowDeactivated: true, oauth: (p) => p.assertAccount({ attr: 'repo', action: 'manage' }) }),
    opts: { blobLimit: ctx.cfg.importRepoLimit },
    handler: async ({ auth, input }) => {
      const { did } = auth.credentials
      const result = await ctx.importer.import(did, input.body)
      // referenced uploads made before the import are now the repo's blobs
      await ctx.blobs.adoptReferenced(did)
      const acc = await ctx.accounts.getAccount(did)
      let head = { cid: result.cid, rev: result.rev, bytes: result.commitBytes }
      if (acc && !acc.deactivatedAt) {
        // an active account's head must verify now: sign it with our key, tell consumers to resync
        const resigned = await ctx.repoWriter.resignHead(did)
        if (resigned) head = { cid: resigned.cid.toString(), rev: resigned.rev, bytes: resigned.bytes }
        ctx.announce(syncEvent(did, parseCid(head.cid), head.bytes, head.rev))
      }
      ctx.accounts.setRepoRoot(did, head.cid, head.rev)
      repoLogger.info(
        { did, records: result.records, blocks: result.blocks, bytes: result.bytes, changed: result.changedRecords, removed: result.removedRecords },
        'repo imported',
      )
    },
  })
}
