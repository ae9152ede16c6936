import { timingSafeEqual } from 'node:crypto'
import express, { type RequestHandler, type Router } from 'express'
import type { Histogram } from '@atsuite/common'
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

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null

/** A host action's JSON body: `{hostname}`, non-empty (400 otherwise). */
const hostBody = (body: unknown): { hostname: string } => {
  const hostname = isObject(body) && 'hostname' in body ? body.hostname : undefined
  if (typeof hostname !== 'string' || !hostname) throw new InvalidRequestError('hostname is required')
  return { hostname }
}

/** `POST /admin/hosts/limits`'s body: `{hostname, rateLimit}`, the limit a number (400 otherwise). */
const limitsBody = (body: unknown): { hostname: string; rateLimit: number } => {
  const rateLimit = isObject(body) && 'rateLimit' in body ? body.rateLimit : undefined
  if (typeof rateLimit !== 'number') throw new InvalidRequestError('rateLimit (events per second) is required')
  return { ...hostBody(body), rateLimit }
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

/** Percentiles of the relay's own latency (receipt from the host → handed to subscribers), ms. */
const latencySummary = (h: Histogram) => {
  const ms = (us: number) => (Number.isNaN(us) ? null : Math.round(us) / 1000)
  return { events: h.count, p50Ms: ms(h.quantile(0.5)), p90Ms: ms(h.quantile(0.9)), p99Ms: ms(h.quantile(0.99)), maxMs: ms(h.count ? h.max : Number.NaN) }
}

/**
 * Admin endpoints (JSON, Basic auth): the relay's own state (event log,
 * ingestion paused, internal errors), list hosts with status and counters,
 * ban / unban a host, set a host's rate limit, request a crawl.
 */
export const adminRouter = (ctx: RelayContext): Router => {
  const router = express.Router()
  router.use('/admin', adminAuth(ctx.cfg.adminPassword), express.json({ limit: '64kb' }))
  router.get(
    '/admin/status',
    wrap(() => ({
      seq: ctx.eventLog.currentSeq,
      eventLog: ctx.out.failing
        ? { state: 'failing', error: ctx.out.failing.message, queued: ctx.out.queued, failures: ctx.out.failures }
        : { state: 'ok', queued: ctx.out.queued, failures: ctx.out.failures },
      ingestPaused: ctx.ingestPaused,
      internalErrors: ctx.internal.errors,
      resyncsPending: ctx.resync.pending,
      latency: latencySummary(ctx.out.latency),
    })),
  )
  // the whole histogram (non-empty buckets), for tools that diff two readings (bench:relay)
  router.get(
    '/admin/latency',
    wrap(() => ({ ...latencySummary(ctx.out.latency), buckets: ctx.out.latency.toSparse() })),
  )
  router.get(
    '/admin/hosts',
    wrap(() => ({ hosts: ctx.hosts.list() })),
  )
  router.post(
    '/admin/hosts/ban',
    wrap((req) => ctx.hosts.ban(hostBody(req.body).hostname)),
  )
  router.post(
    '/admin/hosts/unban',
    wrap((req) => ctx.hosts.unban(hostBody(req.body).hostname)),
  )
  router.post(
    '/admin/hosts/limits',
    wrap((req) => {
      const { hostname, rateLimit } = limitsBody(req.body)
      return ctx.hosts.setRateLimit(hostname, rateLimit)
    }),
  )
  router.post(
    '/admin/hosts/crawl',
    wrap(async (req) => {
      const hostname = await ctx.hosts.requestCrawl(hostBody(req.body).hostname)
      return ctx.hosts.status(hostname)
    }),
  )
  return router
}
