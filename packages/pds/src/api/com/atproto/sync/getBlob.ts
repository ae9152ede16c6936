import { com } from '@atsuite/lexicon/com'
import { findRepoAccount, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { BlobNotFoundError } from '../../../../blobstore/blobstore.ts'

export const getBlob: Route = (server, ctx) => {
  server.add(com.atproto.sync.getBlob, {
    handler: async ({ params: p, res }) => {
      const acc = await findRepoAccount(ctx, p.did)
      const row = ctx.actorStore.read(acc.did, (db) => db.getBlob(p.cid))
      if (!row || row.tempKey) throw new InvalidRequest('Blob not found', 'BlobNotFound')
      let stream
      try {
        stream = await ctx.blobstore.getStream(acc.did, p.cid)
      } catch (err) {
        if (err instanceof BlobNotFoundError) throw new InvalidRequest('Blob not found', 'BlobNotFound')
        throw err
      }
      // user content: never sniffed, never run as a page
      res.setHeader('content-length', row.size)
      res.setHeader('x-content-type-options', 'nosniff')
      res.setHeader('content-security-policy', "default-src 'none'; sandbox")
      return { encoding: row.mimeType, stream }
    },
  })
}
