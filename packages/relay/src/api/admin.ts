import { timingSafeEqual } from 'node:crypto'
import express, { type RequestHandler, type Router } from 'express'
import type { RelayContext } from '../context.ts'
import { AuthRequiredError, InvalidRequestError } from '../errors.ts'

/** HTTP Basic `admin:<RELAY_ADMIN_PASSWORD>`, compared in constant time. */
const adminAuth =
  (password: string): RequestHandler =>
  (req, _res, next) => {
    const header = req.headers.authorization ?? ''
    const [scheme, encoded] = header.split(' ')
    const expected = Buffer.from(`admin:${password}`)
    const given = scheme === 'Basic' && encoded ? Buffer.from(encoded, 'base64') : Buffer.alloc(0)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      next(new AuthRequiredError('admin authentication required'))
      return
    }
    next()
  }

const hostnameOf = (body: unknown): string => {
  const h = (body as { hostname?: unknown } | undefined)?.hostname
  if (typeof h !== 'string' || !h) throw new InvalidRequestError('hostname is required')
  return h
}

const wrap =
  (fn: (req: express.Request) => unknown): RequestHandler =>
  async (req, res, next) => {
    try {
      res.json(await fn(req))
    } catch (err) {
      next(err)
    }
  }

/**
 * Admin endpoints (JSON, Basic auth): list hosts with status and counters,
 * ban / unban a host, set a host's rate limit, request a crawl.
 */
export const adminRouter = (ctx: RelayContext): Router => {
  const router = express.Router()
  router.use('/admin', adminAuth(ctx.cfg.adminPassword), express.json({ limit: '64kb' }))
  router.get(
    '/admin/hosts',
    wrap(() => ({ hosts: ctx.hosts.list() })),
  )
  router.post(
    '/admin/hosts/ban',
    wrap((req) => ctx.hosts.ban(hostnameOf(req.body))),
  )
  router.post(
    '/admin/hosts/unban',
    wrap((req) => ctx.hosts.unban(hostnameOf(req.body))),
  )
  router.post(
    '/admin/hosts/limits',
    wrap((req) => {
      const rateLimit = (req.body as { rateLimit?: unknown }).rateLimit
      if (typeof rateLimit !== 'number') throw new InvalidRequestError('rateLimit (events per second) is required')
      return ctx.hosts.setRateLimit(hostnameOf(req.body), rateLimit)
    }),
  )
  router.post(
    '/admin/hosts/crawl',
    wrap(async (req) => {
      const hostname = await ctx.hosts.requestCrawl(hostnameOf(req.body))
      return ctx.hosts.status(hostname)
    }),
  )
  return router
}
