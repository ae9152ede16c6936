import type { Readable } from 'node:stream'
import type { Route, AccessAuth } from '../../../util.ts'
import { json } from '../../../util.ts'

const readAll = async (stream: Readable): Promise<Buffer> => {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

export const uploadBlob: Route = (server, ctx) => {
  server.method('com.atproto.repo.uploadBlob', {
    auth: ctx.auth.accessStandard(),
    opts: { blobLimit: ctx.cfg.blobUploadLimit },
    handler: async ({ auth, input, req }) => {
      const { did } = (auth as AccessAuth).credentials
      const bytes = await readAll(input!.body as Readable)
      const blob = await ctx.blobs.upload(did, bytes, req.headers['content-type'])
      return json({ blob })
    },
  })
}
