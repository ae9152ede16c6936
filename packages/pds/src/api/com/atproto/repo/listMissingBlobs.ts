import { com } from '@atsuite/lexicon/com'
import type { AtUriString } from '@atproto/syntax'
import { json, type Route } from '../../../util.ts'

export const listMissingBlobs: Route = (server, ctx) => {
  server.add(com.atproto.repo.listMissingBlobs, {
    auth: ctx.auth.accessStandard({ allowDeactivated: true }),
    handler: async ({ auth, params: p }) => {
      const rows = ctx.actorStore.read(auth.credentials.did, (db) => db.listMissingBlobs(p.limit, p.cursor))
      return json({
        blobs: rows.map((r) => ({ cid: r.cid, recordUri: r.recordUri as AtUriString })),
        cursor: rows.length === p.limit ? rows[rows.length - 1].cid : undefined,
      })
    },
  })
}
