// Direct routes: the hot JSON procedures of a service (the PDS's record
// writes) answered from the HTTP server's request event, without express.
//
// Express costs every request its own work before and after the method runs:
// `expressInit` re-prototyping req and res, a walk of the middleware stack and
// the XRPC router's ~200 routes, body-parser's content-type and charset
// parsing, and `res.json` → `res.send` (charset, ETag, freshness). On a
// createRecord that was ~130 µs of the main thread's ~0.9 ms
// (packages/pds/HACKING.md, Runtime).
//
// A direct route runs the very pipeline @atproto/xrpc-server builds for the
// method, from the server's own pieces, on the same config: params verifier,
// auth (with its error-result check), input verifier (lexicon validation),
// the route's rate limiter (the same instance the express route uses, so both
// count against one budget), handler, response validation when it is on.
// What it does itself is read the body, answer, and map errors as
// xrpc-server's error middleware does. Only a request that needs nothing
// else is taken: POST to the exact path with no query string, a JSON body
// (`application/json`, optionally `charset=utf-8`) of a declared length
// within the JSON limit, not compressed. Anything else (a GET, a chunked or
// gzip body, another charset, an OPTIONS preflight) goes through express as
// before. The PDS's `tests/direct-routes.test.ts` holds both paths to the same
// answers, request by request.
import { hash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import type { Express } from 'express'
import { lexToJson } from '@atproto/lexicon'
import { isHandlerSuccess, type Server as XrpcServer, type XRPCError } from '@atproto/xrpc-server'
import type { Logger } from 'pino'
import { INVALID_JSON, cors } from './http.ts'

type Handler = (ctx: unknown) => unknown
type Verifier = (...args: unknown[]) => unknown
type Limiter = { handle(ctx: unknown): Promise<unknown>; reset(ctx: unknown): Promise<unknown> }

/** The pieces of @atproto/xrpc-server's route pipeline (public in its JavaScript, not in its types). */
type XrpcInternals = {
  createAuthVerifier(config: unknown): Verifier | null
  createSchemaParamsVerifier(ns: unknown, opts: unknown): Verifier
  createSchemaInputVerifier(ns: unknown, opts: unknown): Verifier
  createSchemaOutputVerifier(ns: unknown): Verifier | null
  createRouteRateLimiter(nsid: string, config: unknown): Limiter | undefined
}

export type DirectRouteOptions = {
  /** the NSIDs served directly (procedures with a JSON body) */
  methods: readonly string[]
  /**
   * Called with each parsed body before the XRPC pipeline, as a middleware
   * before the router would see it (the PDS keeps the JSON as sent, and
   * refuses what is nested too deep). May throw an XRPC error.
   */
  onJson?: (req: IncomingMessage, body: unknown) => void
}

type Settings = {
  jsonLimit: number
  errorParser: (err: unknown) => XRPCError
  logger: Logger
}

/** the signal a procedure's handler gets: procedures are never cancelled (as in xrpc-server) */
const NEVER_ABORTED = new AbortController().signal

const JSON_TYPES = new Set(['application/json', 'application/json; charset=utf-8', 'application/json;charset=utf-8'])

/**
 * The request's body, or null when the client went away before its end.
 * Listeners of its own rather than `stream/consumers`' `buffer`, whose async
 * iterator cost ~20 µs a request (the body of a record write is one chunk).
 */
const readBody = (req: IncomingMessage): Promise<Buffer | null> =>
  new Promise((resolve) => {
    const chunks: Buffer[] = []
    let length = 0
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      length += chunk.length
    })
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length)))
    req.once('error', () => resolve(null))
    req.once('close', () => resolve(null)) // after 'end' this changes nothing
  })

/**
 * Express's ETag functions (the `etag` package over a body Buffer: the length
 * in hex and the first 27 characters of the base64 SHA-1), with one
 * `crypto.hash` call instead of a Hash object: the same value, ~5 µs less a
 * request. Any other ETag setting keeps the app's own function.
 */
const fastEtag = (weak: boolean) => (body: Buffer): string => {
  const tag = body.length === 0 ? '"0-2jmj7l5rSw0yVb/vlWAYkK/YBwk"' : `"${body.length.toString(16)}-${hash('sha1', body, 'base64').slice(0, 27)}"`
  return weak ? `W/${tag}` : tag
}

/** The ETag function `send` uses for an app: the fast one for express's `etag` settings `true`/`'weak'` and `'strong'`. */
export const etagFunction = (app: Express): ((body: Buffer) => string | undefined) | undefined => {
  const setting = app.get('etag') as unknown
  if (setting === true || setting === 'weak') return fastEtag(true)
  if (setting === 'strong') return fastEtag(false)
  return app.get('etag fn') as ((body: Buffer) => string | undefined) | undefined
}

export class DirectRoutes {
  /** requests taken so far */
  requests = 0
  private readonly routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>()
  private readonly methods: Set<string>
  private readonly internals: XrpcInternals
  private readonly limiters = new Map<string, Limiter | undefined>()
  private readonly app: Express
  private readonly opts: DirectRouteOptions
  private readonly settings: Settings
  /** the app's own ETag function (its `etag` setting), as `res.send` calls it */
  private readonly etag: ((body: Buffer) => string | undefined) | undefined

  constructor(xrpc: XrpcServer, app: Express, opts: DirectRouteOptions, settings: Settings) {
    this.app = app
    this.opts = opts
    this.settings = settings
    this.methods = new Set(opts.methods)
    this.etag = etagFunction(app)
    this.internals = xrpc as unknown as XrpcInternals
    // one rate limiter per route, shared by the express route and the direct one
    const create = this.internals.createRouteRateLimiter.bind(xrpc)
    this.internals.createRouteRateLimiter = (nsid, config) => {
      if (!this.methods.has(nsid)) return create(nsid, config)
      if (!this.limiters.has(nsid)) this.limiters.set(nsid, create(nsid, config))
      return this.limiters.get(nsid)
    }
  }

  /** Builds the direct route of a method about to be registered with `xrpc.add(ns, config)`; `type` is its lexicon type. */
  register(nsid: string, type: string, ns: unknown, config: { handler: Handler; opts?: unknown }): void {
    if (!this.methods.has(nsid)) return
    if (type !== 'procedure') throw new Error(`direct routes are for procedures; ${nsid} is a ${type}`)
    const x = this.internals
    const auth = x.createAuthVerifier(config)
    const params = x.createSchemaParamsVerifier(ns, config.opts)
    const input = x.createSchemaInputVerifier(ns, config.opts)
    const output = x.createSchemaOutputVerifier(ns)
    const limiter = x.createRouteRateLimiter(nsid, config)
    const handler = config.handler
    const { onJson } = this.opts
    const ipGetter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(this.app.request), 'ip')?.get
    const app = this.app
    this.routes.set(`/xrpc/${nsid}`, async (req, res) => {
      cors(req, res, () => undefined)
      const raw = await readBody(req)
      // the client went away mid-body: nobody to answer
      if (raw === null) return
      const text = raw.toString('utf8')
      let body: unknown
      try {
        // as body-parser reads it: UTF-8 without a byte-order mark, any JSON value
        body = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
      } catch {
        return this.send(res, INVALID_JSON.status, { error: INVALID_JSON.error, message: INVALID_JSON.message })
      }
      try {
        onJson?.(req, body)
        // what express and body-parser would have left on the request for the pipeline
        const r = req as IncomingMessage & Record<string, unknown>
        r.body = body
        r._body = true
        r.path = req.url
        if (limiter && ipGetter) {
          Object.defineProperty(r, 'app', { value: app, configurable: true })
          Object.defineProperty(r, 'ip', { get: ipGetter, configurable: true })
        }
        const p = params(req)
        const a = auth ? await auth({ req, res, params: p }) : undefined
        const i = await input(req, res)
        const ctx = {
          params: p,
          input: i,
          auth: a,
          req,
          res,
          signal: NEVER_ABORTED,
          resetRouteRateLimits: async () => limiter?.reset(ctx),
        }
        if (limiter) await limiter.handle(ctx)
        const out = (await handler(ctx)) as { encoding?: string; body?: unknown; headers?: Record<string, unknown> } | undefined
        if (!out) {
          output?.(out)
          res.statusCode = 200
          res.end()
          return
        }
        if (!isHandlerSuccess(out as never) || out.encoding !== 'application/json' || out.body instanceof Readable) {
          throw new Error(`direct route ${nsid}: the handler gave an output only express sends`)
        }
        output?.(out)
        for (const [name, val] of Object.entries(out.headers ?? {})) if (val != null) res.setHeader(name, val as string)
        this.send(res, 200, lexToJson(out.body as never))
      } catch (err) {
        const x = this.settings.errorParser(err)
        if (x.statusCode >= 500) this.settings.logger.error({ err, nsid }, 'unhandled error')
        if (res.headersSent) {
          res.destroy()
          return
        }
        this.send(res, x.statusCode, x.payload)
      }
    })
  }

  /** Answers `req` and returns true when it is one for a direct route; false leaves it to express. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'POST') return false
    const route = this.routes.get(req.url ?? '')
    if (!route) return false
    const h = req.headers
    const type = h['content-type']
    if (type === undefined || !JSON_TYPES.has(type.toLowerCase())) return false
    if (h['transfer-encoding'] !== undefined) return false
    const encoding = h['content-encoding']
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false
    const length = Number(h['content-length'])
    if (!Number.isInteger(length) || length < 1 || length > this.settings.jsonLimit) return false
    this.requests++
    void route(req, res)
    return true
  }

  /** What `res.json` sends: the JSON as UTF-8, its length, and the app's ETag for it. */
  private send(res: ServerResponse, status: number, payload: unknown): void {
    const bytes = Buffer.from(JSON.stringify(payload), 'utf8')
    res.statusCode = status
    res.setHeader('content-type', 'application/json; charset=utf-8')
    res.setHeader('content-length', bytes.length)
    const etag = this.etag?.(bytes)
    if (etag) res.setHeader('etag', etag)
    res.end(bytes)
  }
}
