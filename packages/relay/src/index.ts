import express, { type ErrorRequestHandler } from 'express'
import { createServer as createXrpcServer, type Server as XrpcServer } from '@atproto/xrpc-server'
import { HttpServer, bodyParserError, cors, type SubscriptionServer } from '@atsuite/common'
import { adminRouter } from './api/admin.ts'
import { getRepo } from './api/com/atproto/sync/getRepo.ts'
import { subscribeRepos } from './api/com/atproto/sync/subscribeRepos.ts'
import { registerRoutes } from './api/index.ts'
import type { RelayConfig } from './config.ts'
import { RelayContext, type RelayOverrides } from './context.ts'
import { toXrpcError } from './errors.ts'
import { lexiconDocs } from './lexicon.ts'
import { httpLogger } from './logger.ts'

export * from './config.ts'
export { RelayContext, type RelayOverrides } from './context.ts'
export type { HostStatus } from './ingest/host-manager.ts'
export { DROP_REASONS, type DropReason } from './ingest/counters.ts'

/** Errors outside the XRPC layer (admin, getRepo, body parsing) as `{error, message}`. */
const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  const parseErr = bodyParserError(err)
  if (parseErr) {
    res.status(parseErr.status).json({ error: parseErr.error, message: parseErr.message })
    return
  }
  const x = toXrpcError(err)
  if (x.statusCode >= 500) httpLogger.error({ err }, 'unhandled error')
  if (x.statusCode === 401) res.setHeader('www-authenticate', 'Basic realm="relay admin"')
  res.status(x.statusCode).json(x.payload)
}

/**
 * The relay: crawls PDS hosts, verifies every event, and serves one merged
 * `com.atproto.sync.subscribeRepos` with its own seqs.
 */
export class RelayServer {
  readonly ctx: RelayContext
  readonly xrpc: XrpcServer
  readonly app: express.Express
  private readonly http: HttpServer
  private readonly firehose: SubscriptionServer

  private constructor(ctx: RelayContext, xrpc: XrpcServer, app: express.Express, firehose: SubscriptionServer) {
    this.ctx = ctx
    this.xrpc = xrpc
    this.app = app
    this.firehose = firehose
    this.http = new HttpServer(app)
    this.http.server.on('upgrade', (req, socket, head) => {
      if (!this.firehose.handleUpgrade(req, socket, head)) socket.destroy()
    })
  }

  static async create(cfg: RelayConfig, overrides: RelayOverrides = {}): Promise<RelayServer> {
    const ctx = await RelayContext.create(cfg, overrides)
    const firehose = subscribeRepos(ctx)
    const xrpc = createXrpcServer(lexiconDocs, {
      validateResponse: false,
      payload: { jsonLimit: 100 * 1024, textLimit: 100 * 1024 },
      errorParser: toXrpcError,
    })
    registerRoutes(xrpc, ctx)
    const app = express()
    app.disable('x-powered-by')
    app.set('trust proxy', true)
    app.use(cors)
    app.get('/xrpc/_health', (_req, res) => {
      res.json({ version: cfg.version })
    })
    app.get('/xrpc/com.atproto.sync.subscribeRepos', (req, res) => firehose.handlePlainGet(req, res))
    app.get('/xrpc/com.atproto.sync.getRepo', getRepo(ctx))
    app.use(adminRouter(ctx))
    app.use(xrpc.router)
    app.use((req, res) => {
      res.status(404).json({ error: 'NotFound', message: `Not found: ${req.method} ${req.path}` })
    })
    app.use(errorHandler)
    return new RelayServer(ctx, xrpc, app, firehose)
  }

  /** Listens, then starts ingesting from every known host. Returns the port. */
  async start(): Promise<number> {
    const port = await this.http.listen(this.ctx.cfg.port, this.ctx.cfg.host)
    this.ctx.start()
    return port
  }

  get port(): number {
    return this.http.port
  }

  get url(): string {
    return `http://localhost:${this.port}`
  }

  async destroy(): Promise<void> {
    this.firehose.close()
    await this.http.close()
    await this.ctx.destroy()
  }
}
