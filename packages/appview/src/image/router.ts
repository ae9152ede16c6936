import express, { type Router } from 'express'
import { isValidDid } from '@atproto/syntax'
import type { AppContext } from '../context.ts'
import { BlobError } from './blob-cache.ts'

const PRESETS = new Set(['avatar', 'banner', 'feed_thumbnail', 'feed_fullsize'])

/**
 * `/img/<preset>/plain/<did>/<cid>@<format>`: the image URLs views hand out.
 * The original blob is served (no resizing here) with its content type,
 * cached on disk, with immutable cache headers (a CID never changes
 * content). A hidden (taken-down, deactivated, deleted) account's images
 * are gone.
 */
export const imageRouter = (ctx: AppContext): Router => {
  const router = express.Router()
  router.get('/img/:preset/plain/:did/:file', async (req, res) => {
    try {
      const { preset, did, file } = req.params
      if (!PRESETS.has(preset)) throw new BlobError(400, 'InvalidRequest', `unknown image preset: ${preset}`)
      if (!isValidDid(did)) throw new BlobError(400, 'InvalidRequest', `not a DID: ${did}`)
      const cid = ctx.blobs.parseCid(file.split('@')[0] ?? '')
      const actor = await ctx.db.kysely.selectFrom('actor').select(['status', 'pdsEndpoint']).where('did', '=', did).executeTakeFirst()
      if (!actor || actor.status !== null) throw new BlobError(404, 'NotFound', 'no such image')
      const blob = await ctx.blobs.get(did, cid, async () => actor.pdsEndpoint ?? (await ctx.identity.resolve(did)).pdsEndpoint)
      res.setHeader('content-type', blob.mimeType)
      res.setHeader('content-length', String(blob.size))
      res.setHeader('cache-control', 'public, max-age=31536000, immutable')
      res.setHeader('etag', `"${cid.toString()}"`)
      res.setHeader('x-content-type-options', 'nosniff')
      res.setHeader('content-security-policy', "default-src 'none'; sandbox")
      if (req.headers['if-none-match'] === `"${cid.toString()}"`) {
        res.status(304).end()
        return
      }
      res.sendFile(blob.file)
    } catch (err) {
      if (err instanceof BlobError) {
        res.status(err.status).json({ error: err.errorName, message: err.message })
        return
      }
      res.status(500).json({ error: 'InternalServerError', message: 'Internal Server Error' })
    }
  })
  return router
}
