import express, { type ErrorRequestHandler, type RequestHandler } from 'express'
import { createServer as createXrpcServer, type Options as XrpcServerOptions, type Server as XrpcServer, type XRPCError } from '@atproto/xrpc-server'
import type { Logger } from 'pino'
import { l } from '@atproto/lex-schema'
import { HttpServer, bodyParserError, cors } from './http.ts'
import type { WebSocketEndpoint } from './stream/subscription.ts'
import { classyAuth, quickAuthResultCheck, validateMethodFirst } from './xrpc-fast.ts'
import { DirectRoutes, type DirectRouteOptions } from './xrpc-direct.ts'

export type XrpcOptions = {
  /** validate every response against its lexicon (on in tests) */
  validateResponses: boolean
  jsonLimit: number
  blobLimit?: number
}

export type ServiceShellOptions = {
  version: string
  logger: Logger
  xrpc: XrpcOptions
  errorParser: (err: unknown) => XRPCError
  /** WebSocket subscriptions (e.g. subscribeRepos), served beside the XRPC routes */
  subscriptions?: WebSocketEndpoint[]
  /** express handlers mounted before the XRPC router (well-known documents, admin routes, body capture) */
  before?: RequestHandler[]
  /**
   * What answers an `/xrpc/<nsid>` this service does not register: a handler
   * (the PDS proxies to the app view), or the reference's 501
   * `MethodNotImplemented` when absent.
   */
  unknownMethod?: RequestHandler
  /** express handlers mounted after the XRPC router (e.g. the app view's images) */
  after?: RequestHandler[]
  /** sent with 401s (e.g. `Basic realm="relay admin"`) */
  wwwAuthenticate?: string
  /** Express's `trust proxy` (whether req.ip may come from X-Forwarded-For); default true */
  trustProxy?: boolean | number | string[]
  /** @atproto/xrpc-server rate limits (global, shared, and routes' `rateLimit`); none when absent */
  rateLimits?: XrpcServerOptions['rateLimits']
  /** an error state `_health` reports with a 503 (e.g. storage refusing writes) */
  health?: () => { ok: true } | { ok: false; error: string; message: string }
  /** JSON procedures answered without express (xrpc-direct.ts) */
  direct?: DirectRouteOptions
}

/**
 * The HTTP skeleton every service shares: CORS, `/xrpc/_health`, WebSocket
 * subscriptions (with a clear 426 for plain GETs), the typed XRPC router
 * (`shell.xrpc`: register methods with `server.add`), a 501/404 for what is
 * not served, and one error mapping — bad input is a 4xx
 * with an XRPC error body, a 500 never leaks its message.
 */
export class ServiceShell {
  readonly app: express.Express
  readonly xrpc: XrpcServer
  private readonly http: HttpServer
  private readonly subscriptions: WebSocketEndpoint[]
  private readonly direct: DirectRoutes | undefined

  constructor(opts: ServiceShellOptions) {
    this.xrpc = createXrpcServer([], {
      validateResponse: opts.xrpc.validateResponses,
      payload: { jsonLimit: opts.xrpc.jsonLimit, blobLimit: opts.xrpc.blobLimit, textLimit: 100 * 1024 },
      errorParser: opts.errorParser,
      rateLimits: opts.rateLimits,
      catchall:
        opts.unknownMethod ??
        ((req, res) => {
          const nsid = req.path.slice(6)
          res.status(501).json({ error: 'MethodNotImplemented', message: `Method not implemented: ${nsid}` })
        }),
    })
    const app = express()
    // the XRPC router is an express app of its own, mounted in this one: it would send `X-Powered-By` too
    this.xrpc.router.disable('x-powered-by')
    const direct = opts.direct
      ? new DirectRoutes(this.xrpc, app, opts.direct, { jsonLimit: opts.xrpc.jsonLimit, errorParser: opts.errorParser, logger: opts.logger })
      : undefined
    // every method registered here skips the router's no-op costs (xrpc-fast.ts), and gets its direct route if it has one
    quickAuthResultCheck()
    const add = this.xrpc.add.bind(this.xrpc)
    this.xrpc.add = ((ns: Parameters<XrpcServer['add']>[0], config: Parameters<XrpcServer['add']>[1]) => {
      validateMethodFirst(ns)
      const classy = classyAuth(config)
      const main = l.getMain(ns as never) as { nsid: string; type: string }
      direct?.register(main.nsid, main.type, ns, classy as never)
      return add(ns, classy)
    }) as XrpcServer['add']
    this.subscriptions = opts.subscriptions ?? []
    app.disable('x-powered-by')
    app.set('trust proxy', opts.trustProxy ?? true)
    app.use(cors)
    app.get('/xrpc/_health', (_req, res) => {
      const health = opts.health?.() ?? { ok: true }
      if (health.ok) res.json({ version: opts.version })
      else res.status(503).json({ version: opts.version, error: health.error, message: health.message })
    })
    for (const sub of this.subscriptions) app.get(sub.path, (req, res) => sub.handlePlainGet(req, res))
    for (const handler of opts.before ?? []) app.use(handler)
    app.use(this.xrpc.router)
    for (const handler of opts.after ?? []) app.use(handler)
    app.use((req, res) => {
      res.status(404).json({ error: 'NotFound', message: `Not found: ${req.method} ${req.path}` })
    })
    app.use(errorHandler(opts))
    this.app = app
    this.direct = direct
    this.http = new HttpServer(direct ? (req, res) => direct.handle(req, res) || app(req, res) : app)
    this.http.server.on('upgrade', (req, socket, head) => {
      for (const sub of this.subscriptions) if (sub.handleUpgrade(req, socket, head)) return
      socket.destroy()
    })
  }

  listen(port: number, host: string): Promise<number> {
    return this.http.listen(port, host)
  }

  get port(): number {
    return this.http.port
  }

  /** Requests answered by direct routes (xrpc-direct.ts) so far. */
  get directRequests(): number {
    return this.direct?.requests ?? 0
  }

  /** Closes subscriptions, then the listener and every open connection. */
  async close(): Promise<void> {
    for (const sub of this.subscriptions) sub.close()
    await this.http.close()
  }

  /** The NSIDs of every XRPC method registered on the router. */
  registeredMethods(): string[] {
    return registeredMethods(this.xrpc)
  }
}

/** NSIDs routed by an xrpc-server (its express routes are `/xrpc/<nsid>`). */
export const registeredMethods = (xrpc: XrpcServer): string[] => {
  const nsids = new Set<string>()
  for (const layer of xrpc.routes.stack) {
    const p = layer.route?.path
    if (p?.startsWith('/xrpc/')) nsids.add(p.slice(6))
  }
  return [...nsids].sort()
}

/** Errors that reach express outside the XRPC layer (body parsing, plain routes) as XRPC error bodies. */
const errorHandler =
  (opts: ServiceShellOptions): ErrorRequestHandler =>
  (err, _req, res, _next) => {
    const parseErr = bodyParserError(err)
    if (parseErr) {
      res.status(parseErr.status).json({ error: parseErr.error, message: parseErr.message })
      return
    }
    const status = (err as { status?: unknown } | null)?.status
    if (typeof status === 'number' && status >= 400 && status < 500 && !(err as { error?: unknown }).error) {
      // an express/http-errors client error (e.g. a malformed URL)
      res.status(status).json({ error: 'InvalidRequest', message: (err as Error).message ?? 'bad request' })
      return
    }
    const x = opts.errorParser(err)
    if (x.statusCode >= 500) opts.logger.error({ err }, 'unhandled error')
    if (x.statusCode === 401 && opts.wwwAuthenticate) res.setHeader('www-authenticate', opts.wwwAuthenticate)
    if (res.headersSent) return
    res.status(x.statusCode).json(x.payload)
  }
