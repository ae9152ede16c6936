import type { RequestHandler } from 'express'
import type { BridgeConfig } from './config.ts'
import type { DeliveryLedger } from './fedify/delivery.ts'
import { federationLogger as log } from './logger.ts'

/** The instance (host) an inbound request's HTTP signature names as its signer, if it carries one. */
export const signerHost = (signature: string | undefined): string | undefined => {
  const keyId = /keyId="([^"]+)"/.exec(signature ?? '')?.[1]
  if (!keyId) return undefined
  try {
    return new URL(keyId).host.toLowerCase()
  } catch {
    return undefined
  }
}

const refuse = (res: Parameters<RequestHandler>[1], status: number, error: string, message: string) => {
  res.status(status).json({ error, message })
}

/**
 * In front of the inboxes: bodies of a known, bounded size (411 without a
 * length, 413 past `maxActivityBytes`), nothing from blocked instances
 * (403, by the signer's host), and at most `instanceRateLimit` activities a
 * minute from one instance (429). Fedify then verifies the signature; an
 * accepted activity marks its instance alive for deliveries again.
 */
export const inboxGuard = (cfg: BridgeConfig, deliveries?: DeliveryLedger): RequestHandler => {
  const windows = new Map<string, { start: number; count: number }>()
  let lastPrune = Date.now()
  return (req, res, next) => {
    if (req.method !== 'POST' || !req.path.endsWith('/inbox')) return next()
    const length = req.headers['content-length']
    if (length === undefined) return refuse(res, 411, 'LengthRequired', 'activities must be sent with a Content-Length')
    if (Number(length) > cfg.maxActivityBytes) {
      res.setHeader('connection', 'close')
      return refuse(res, 413, 'PayloadTooLarge', `activities are limited to ${cfg.maxActivityBytes} bytes`)
    }
    const host = signerHost(req.headers.signature as string | undefined)
    if (host) {
      const bare = host.split(':')[0]
      if (cfg.blockedInstances.includes(host) || cfg.blockedInstances.includes(bare)) {
        log.info({ host }, 'activity from a blocked instance refused')
        return refuse(res, 403, 'Blocked', `${host} is blocked on this bridge`)
      }
      const now = Date.now()
      // windows that ended are dropped now and then (one entry per instance heard from in the last minute)
      if (now - lastPrune > 60_000) {
        for (const [h, win] of windows) if (now - win.start >= 60_000) windows.delete(h)
        lastPrune = now
      }
      const w = windows.get(host)
      if (!w || now - w.start >= 60_000) windows.set(host, { start: now, count: 1 })
      else if (++w.count > cfg.instanceRateLimit) {
        res.setHeader('retry-after', String(Math.ceil((w.start + 60_000 - now) / 1000)))
        return refuse(res, 429, 'RateLimitExceeded', `too many activities from ${host}`)
      }
      // an instance that sends us a verified activity is alive: deliveries to it resume
      if (deliveries) res.on('finish', () => res.statusCode < 300 && deliveries.revive(host))
    }
    next()
  }
}
