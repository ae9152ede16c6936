import { timingSafeEqual } from 'node:crypto'
import type { Request, RequestHandler } from 'express'
import { MemoryRateLimiter, RateLimitExceededError, type HandlerContext, type Options, type RateLimitOpts } from '@atproto/xrpc-server'
import type { PdsConfig } from './config.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

type Window = { durationMs: number; points: number }
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Ctx = HandlerContext<any, any, any>

/**
 * The PDS's rate limits, by name: the windows of each (all must have room),
 * as the reference PDS has them where it has them. `PDS_RATE_LIMIT_OVERRIDES`
 * replaces a name's windows (tests make them short).
 */
export const DEFAULT_LIMITS = {
  /** every XRPC request, per client address (getRepo excepted: sync has its own volume) */
  'global-ip': [{ durationMs: 5 * MINUTE, points: 3000 }],
  /** repo writes per account, in points: create 3, update 2, delete 1 */
  'repo-write-hour': [{ durationMs: HOUR, points: 5000 }],
  'repo-write-day': [{ durationMs: DAY, points: 35_000 }],
  /** createSession, per identifier and client address */
  'create-session': [
    { durationMs: 5 * MINUTE, points: 30 },
    { durationMs: DAY, points: 300 },
  ],
  /** createSession, per identifier from anywhere: guessing spread over many addresses */
  'create-session-account': [{ durationMs: DAY, points: 1000 }],
  /** createAccount, per client address */
  'create-account': [{ durationMs: 5 * MINUTE, points: 100 }],
  /** requestPasswordReset, per client address */
  'request-password-reset': [
    { durationMs: HOUR, points: 15 },
    { durationMs: DAY, points: 50 },
  ],
  /** resetPassword, deleteAccount (token confirmations without a session), per client address */
  'confirm-token': [{ durationMs: 5 * MINUTE, points: 50 }],
  /** requestEmailConfirmation, requestEmailUpdate, requestAccountDelete, requestPlcOperationSignature, per account */
  'request-email-token': [
    { durationMs: HOUR, points: 5 },
    { durationMs: DAY, points: 15 },
  ],
  /** confirmEmail, updateEmail, per account */
  'confirm-email-token': [{ durationMs: 5 * MINUTE, points: 50 }],
  /** createAppPassword, per account */
  'create-app-password': [{ durationMs: HOUR, points: 25 }],
  /** updateHandle, per account */
  'update-handle': [
    { durationMs: 5 * MINUTE, points: 10 },
    { durationMs: DAY, points: 50 },
  ],
  /** uploadBlob, per account */
  'upload-blob': [{ durationMs: DAY, points: 1000 }],
} satisfies Record<string, Window[]>

export type LimitName = keyof typeof DEFAULT_LIMITS

const SYNC_GET_REPO = '/xrpc/com.atproto.sync.getRepo'
/** the shared budgets every repo write draws on */
const REPO_WRITE = ['repo-write-hour', 'repo-write-day'] as const

/** Keys: the account of the session, or the client address (as `trust proxy` allows). */
export const byAccount = (ctx: Ctx): string => (ctx.auth as { credentials: { did: string } }).credentials.did
export const byAddress = (ctx: Ctx): string => ctx.req.ip ?? ctx.req.socket.remoteAddress ?? 'unknown'
/** createSession's identifier (handle or email), as the account is looked up */
export const sessionIdentifier = (ctx: Ctx): string => String((ctx.input as { body?: { identifier?: unknown } })?.body?.identifier ?? '').trim().toLowerCase()

/**
 * Rate limits on every auth surface and on writes, through
 * @atproto/xrpc-server's limiters (in memory): a request over a limit is a
 * 429 `RateLimitExceeded`, and every limited response carries the
 * `ratelimit-limit/-remaining/-reset/-policy` headers. Not limited: requests
 * with the operator's admin password (Basic auth), with the configured
 * bypass key (`x-ratelimit-bypass`, for trusted front-ends), or from a
 * bypass address. Off in dev mode unless PDS_RATE_LIMITS_ENABLED says so.
 */
export class RateLimits {
  readonly enabled: boolean
  private readonly cfg: PdsConfig['rateLimits']
  private readonly isAdmin: (req: Ctx['req']) => boolean

  /** `isAdmin`: whether a request carries the admin password (AuthVerifier.isAdmin) */
  constructor(cfg: PdsConfig['rateLimits'], isAdmin: (req: Ctx['req']) => boolean) {
    this.cfg = cfg
    this.enabled = cfg.enabled
    this.isAdmin = isAdmin
  }

  windows(name: LimitName): Window[] {
    return this.cfg.overrides[name] ?? DEFAULT_LIMITS[name]
  }

  /** xrpc-server's `rateLimits` option, or undefined when limits are off. */
  serverOption(): Options['rateLimits'] {
    if (!this.enabled) return undefined
    return {
      creator: (opts) => new MemoryRateLimiter(opts),
      bypass: (ctx) => this.bypass(ctx),
      global: this.windows('global-ip').map((w, i) => ({
        name: `global-ip-${i}`,
        ...w,
        calcKey: (ctx: Ctx) => (ctx.req.path === SYNC_GET_REPO ? null : byAddress(ctx)),
      })),
      shared: REPO_WRITE.map((name) => ({ name, ...this.windows(name)[0] })),
    }
  }

  /** A route's limits: each window of `name`, keyed by `key` (several names: all must have room). */
  route(...limits: [LimitName, (ctx: Ctx) => string | null][]): RateLimitOpts<Ctx>[] {
    return limits.flatMap(([name, calcKey]) => this.windows(name).map((w) => ({ ...w, calcKey })))
  }

  /** Repo writes: the shared hourly and daily budgets of the account, `points` per request. */
  repoWrite(points: (ctx: Ctx) => number): RateLimitOpts<Ctx>[] {
    return REPO_WRITE.map((name) => ({ name, calcKey: byAccount, calcPoints: points }))
  }

  /**
   * The same limits for HTTP routes outside XRPC (the OAuth sign-in pages'
   * API, PAR and token endpoints): `limits` by path, keyed by the client
   * address. Over a limit: 429 with an OAuth-style and an XRPC-style error
   * body, and `Retry-After`.
   */
  httpMiddleware(limits: Record<string, LimitName[]>): RequestHandler {
    const limiters = new Map<string, MemoryRateLimiter<Request>[]>()
    for (const [route, names] of Object.entries(limits)) {
      limiters.set(
        route,
        names.flatMap((name) =>
          this.windows(name).map(
            (w, i) =>
              new MemoryRateLimiter<Request>({
                keyPrefix: `http-${name}-${i}`,
                durationMs: w.durationMs,
                points: w.points,
                calcKey: (req) => req.ip ?? req.socket.remoteAddress ?? 'unknown',
                calcPoints: () => 1,
              }),
          ),
        ),
      )
    }
    return (req, res, next) => {
      const list = this.enabled && req.method === 'POST' ? limiters.get(req.path) : undefined
      if (!list || this.bypass({ req } as Ctx)) return next()
      // every window is charged (as XRPC's limits are); the first one over refuses
      Promise.all(list.map((l) => l.consume(req))).then(
        () => next(),
        (err: unknown) => {
          if (!(err instanceof RateLimitExceededError)) return next(err)
          res.setHeader('Retry-After', String(Math.max(1, Math.ceil(err.status.msBeforeNext / 1000))))
          const message = 'Too many attempts from this address: wait a little and try again'
          res.status(429).json({ error: 'RateLimitExceeded', error_description: message, message })
        },
      )
    }
  }

  private bypass(ctx: Ctx): boolean {
    const headers = ctx.req.headers
    const key = this.cfg.bypassKey
    const given = headers['x-ratelimit-bypass']
    if (key && typeof given === 'string' && safeEqual(given, key)) return true
    if (this.cfg.bypassIps.length > 0 && this.cfg.bypassIps.includes(byAddress(ctx))) return true
    return this.isAdmin(ctx.req)
  }
}

const safeEqual = (a: string, b: string): boolean => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
