import express, { type ErrorRequestHandler, type RequestHandler } from 'express'
import { createServer as createXrpcServer, type Server as XrpcServer } from '@atproto/xrpc-server'
import { HttpServer, bodyParserError, cors } from '@atsuite/common'
import { AppContext, type ContextOverrides } from './context.ts'
import type { PdsConfig, PdsSecrets } from './config.ts'
import { registerRoutes } from './api/index.ts'
import { lexiconDocs } from './lexicon.ts'
import { toXrpcError } from './errors.ts'
import { wellKnownRouter } from './well-known.ts'
import { httpLogger, seqLogger } from './logger.ts'
import { markCleanShutdown, recoverUnannouncedCommits } from './sequencer/recovery.ts'
import type { SubscriptionServer } from '@atsuite/common'
import { subscribeRepos } from './api/com/atproto/sync/subscribeRepos.ts'

export * from './config.ts'
export { AppContext } from './context.ts'

const JSON_LIMIT = '10mb'
const MAX_JSON_DEPTH = 128

/** Nesting depth, iteratively (a hostile body must not blow the stack). */
const jsonDepth = (root: unknown): number => {
  let max = 0
  const stack: [unknown, number][] = [[root, 1]]
  while (stack.length > 0) {
    const [v, d] = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    if (d > max) max = d
    if (max > MAX_JSON_DEPTH) return max
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1])
  }
  return max
}

/**
 * Keeps the request body exactly as parsed from JSON (`req.rawJson`) before
 * the XRPC layer converts it, so record writes can be checked strictly
 * against the data model. Malformed JSON is a 400 here, never a 500.
 */
const rawJson: RequestHandler = (req, res, next) => {
  if (req.method !== 'POST' || !req.is('application/json')) return next()
  express.json({ limit: JSON_LIMIT, strict: false })(req, res, (err?: unknown) => {
    if (err) return next(err)
    if (jsonDepth(req.body) > MAX_JSON_DEPTH) {
      res.status(400).json({ error: 'InvalidRequest', message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` })
      return
    }
    ;(req as typeof req & { rawJson?: unknown }).rawJson = req.body
    next()
  })
}

/** Errors raised before the XRPC layer (body parsing) become XRPC errors too. */
const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  const e = err as { status?: number; message?: string }
  const parseErr = bodyParserError(err)
  if (parseErr) {
    res.status(parseErr.status).json({ error: parseErr.error, message: parseErr.message })
  } else if (e.status && e.status >= 400 && e.status < 500) {
    res.status(e.status).json({ error: 'InvalidRequest', message: e.message ?? 'bad request' })
  } else {
    const x = toXrpcError(err)
    if (x.statusCode >= 500) httpLogger.error({ err }, 'unhandled error')
    res.status(x.statusCode).json(x.payload)
  }
}

export class PDS {
  readonly ctx: AppContext
  readonly xrpc: XrpcServer
  readonly app: express.Express
  private readonly http: HttpServer
  private readonly firehose: SubscriptionServer

  private constructor(ctx: AppContext, xrpc: XrpcServer, app: express.Express, firehose: SubscriptionServer) {
    this.ctx = ctx
    this.xrpc = xrpc
    this.app = app
    this.http = new HttpServer(app)
    this.firehose = firehose
    this.http.server.on('upgrade', (req, socket, head) => {
      if (!this.firehose.handleUpgrade(req, socket, head)) socket.destroy()
    })
  }

  static async create(cfg: PdsConfig, secrets: PdsSecrets, overrides: ContextOverrides & { validateResponses?: boolean } = {}): Promise<PDS> {
    const ctx = await AppContext.create(cfg, secrets, overrides)
    const firehose = subscribeRepos(ctx)
    const xrpc = createXrpcServer(lexiconDocs, {
      validateResponse: overrides.validateResponses ?? false,
      payload: { jsonLimit: 10 * 1024 * 1024, blobLimit: cfg.blobUploadLimit, textLimit: 100 * 1024 },
      errorParser: toXrpcError,
    })
    registerRoutes(xrpc, ctx)
    const app = express()
    app.disable('x-powered-by')
    app.set('trust proxy', true)
    app.use(cors)
    app.use(wellKnownRouter(ctx))
    app.get('/xrpc/com.atproto.sync.subscribeRepos', (req, res) => firehose.handlePlainGet(req, res))
    app.use('/xrpc', rawJson)
    app.use(xrpc.router)
    app.use((req, res) => {
      if (req.path.startsWith('/xrpc/')) {
        // a known lexicon method this server does not implement (yet): the reference's 501
        res.status(501).json({ error: 'MethodNotImplemented', message: `Method not implemented: ${req.path.slice(6)}` })
        return
      }
      res.status(404).json({ error: 'NotFound', message: `Not found: ${req.method} ${req.path}` })
    })
    app.use(errorHandler)
    return new PDS(ctx, xrpc, app, firehose)
  }

  async start(): Promise<number> {
    await recoverUnannouncedCommits(this.ctx)
    const port = await this.http.listen(this.ctx.cfg.service.port, this.ctx.cfg.service.host)
    this.ctx.blobs.start()
    this.ctx.sequencer.startTrimming((err) => seqLogger.warn({ err }, 'firehose trim failed'))
    void this.ctx.crawlers.requestCrawl()
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
    markCleanShutdown(this.ctx)
  }
}
