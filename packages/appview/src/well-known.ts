import express, { type Router } from 'express'
import type { AppContext } from './context.ts'

/**
 * `/.well-known/did.json` for a did:web app view: the document PDSes resolve
 * to find us when a client names us in `atproto-proxy` (`<did>#bsky_appview`).
 */
export const wellKnownRouter = (ctx: AppContext): Router => {
  const router = express.Router()
  router.get('/.well-known/did.json', (_req, res) => {
    const did = ctx.cfg.did
    if (!did.startsWith('did:web:')) {
      res.status(404).json({ error: 'NotFound', message: 'this app view is not a did:web' })
      return
    }
    res.json({
      '@context': ['https://www.w3.org/ns/did/v1'],
      id: did,
      service: [
        { id: '#bsky_appview', type: 'BskyAppView', serviceEndpoint: ctx.cfg.publicUrl },
        { id: '#bsky_notif', type: 'BskyNotificationService', serviceEndpoint: ctx.cfg.publicUrl },
      ],
    })
  })
  router.get('/_appview/stats', (_req, res) => {
    const { cursor, idle, pendingEvents, connected, counters } = ctx.indexer.status
    res.json({ cursor, idle, pendingEvents, connected, ...counters, checkpoint: ctx.checkpointer?.stats ?? null })
  })
  return router
}
