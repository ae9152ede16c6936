import type { Readable } from 'node:stream'
import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { byAccount } from '../../../../rate-limits.ts'
import { checkBlobScope } from '../../../../auth/scopes.ts'

const readAll = async (stream: Readable): Promise<Buffer> => {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c)
  return Buffer.concat(chunks)
}

export const uploadBlob: Route = (server, ctx) => {
  server.add(com.atproto.repo.uploadBlob, {
    rateLimit: ctx.rateLimits.route(['upload-blob', byAccount]),
    // deactivated too: a migrating account uploads its blobs before it is activated
    auth: ctx.auth.accessStandard({ allowDeactivated: true }),
    opts: { blobLimit: ctx.cfg.blobUploadLimit },
    handler: async ({ auth, input, req }) => {
      // what the app says it uploads is what its blob: permission is checked against
      checkBlobScope(auth.credentials, req.headers['content-type'] ?? 'application/octet-stream')
      const bytes = await readAll(input.body)
      const blob = await ctx.blobs.upload(auth.credentials.did, bytes, req.headers['content-type'])
      return json({ blob })
    },
  })
}
