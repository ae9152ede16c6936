import express, { type Router } from 'express'
import type { AppContext } from './context.ts'

/** Non-XRPC routes: handle verification over HTTPS, the service DID document, health. */
export const wellKnownRouter = (ctx: AppContext): Router => {
  const router = express.Router()

  router.get('/.well-known/atproto-did', async (req, res) => {
    const host = (req.headers.host ?? '').split(':')[0].toLowerCase()
    const acc = host ? await ctx.accounts.getAccount(host) : undefined
    if (!acc || acc.takedownRef) {
      res.status(404).type('text/plain').send('User not found')
      return
    }
    res.type('text/plain').send(acc.did)
  })

  router.get('/.well-known/did.json', (_req, res) => {
    if (!ctx.cfg.service.did.startsWith('did:web:')) {
      res.status(404).json({ error: 'NotFound', message: 'this PDS has no did:web document' })
      return
    }
    res.json({
      '@context': ['https://www.w3.org/ns/did/v1'],
      id: ctx.cfg.service.did,
      service: [
        { id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: ctx.cfg.service.publicUrl },
      ],
    })
  })

  router.get('/xrpc/_health', (_req, res) => {
    res.json({ version: ctx.cfg.service.version })
  })

  router.get('/', (_req, res) => {
    res.type('text/plain').send('This is an AT Protocol Personal Data Server (PDS). Most API routes are under /xrpc/\n')
  })

  return router
}
