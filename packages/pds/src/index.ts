import { ServiceShell } from '@atsuite/common'
import { AppContext, type ContextOverrides } from './context.ts'
import type { PdsConfig, PdsSecrets } from './config.ts'
import { registerRoutes } from './api/index.ts'
import { DIRECT_METHODS, keepRawJson, rawJson } from './api/raw-json.ts'
import { toXrpcError } from './errors.ts'
import { wellKnownRouter } from './well-known.ts'
import { oauthRoutes } from './oauth/routes.ts'
import { httpLogger, seqLogger } from './logger.ts'
import { markCleanShutdown, recoverUnannouncedCommits } from './sequencer/recovery.ts'
import { subscribeRepos } from './api/com/atproto/sync/subscribeRepos.ts'
import { unknownMethod } from './proxy/unknown-method.ts'

export * from './config.ts'
export { AppContext, type ContextOverrides, type HandleLookup } from './context.ts'

export class PDS {
  readonly ctx: AppContext
  private readonly shell: ServiceShell

  private constructor(ctx: AppContext, shell: ServiceShell) {
    this.ctx = ctx
    this.shell = shell
  }

  static async create(cfg: PdsConfig, secrets: PdsSecrets, overrides: ContextOverrides & { validateResponses?: boolean } = {}): Promise<PDS> {
    const ctx = await AppContext.create(cfg, secrets, overrides)
    // filled once the routes are registered; read per request
    const local = new Set<string>()
    const shell = new ServiceShell({
      version: cfg.service.version,
      logger: httpLogger,
      xrpc: { validateResponses: overrides.validateResponses ?? false, jsonLimit: 10 * 1024 * 1024, blobLimit: cfg.blobUploadLimit },
      errorParser: toXrpcError,
      subscriptions: [subscribeRepos(ctx)],
      rateLimits: ctx.rateLimits.serverOption(),
      trustProxy: ctx.cfg.trustProxy,
      before: [wellKnownRouter(ctx), oauthRoutes(ctx), rawJson((nsid) => local.has(nsid.toLowerCase()))],
      direct: cfg.directRoutes ? { methods: DIRECT_METHODS, onJson: keepRawJson } : undefined,
      // what no route serves is forwarded (to the app view, or the atproto-proxy service) or a 501
      unknownMethod: unknownMethod(ctx),
    })
    registerRoutes(shell.xrpc, ctx)
    for (const nsid of shell.registeredMethods()) local.add(nsid.toLowerCase())
    return new PDS(ctx, shell)
  }

  /** Requests answered without express so far (xrpc-direct.ts). */
  get directRequests(): number {
    return this.shell.directRequests
  }

  /** The NSIDs of every XRPC method this PDS serves itself. */
  registeredMethods(): string[] {
    return [...this.shell.registeredMethods(), 'com.atproto.sync.subscribeRepos'].sort()
  }

  async start(): Promise<number> {
    await recoverUnannouncedCommits(this.ctx)
    const port = await this.shell.listen(this.ctx.cfg.service.port, this.ctx.cfg.service.host)
    this.ctx.blobs.start()
    this.ctx.sequencer.startTrimming((err) => seqLogger.warn({ err }, 'firehose trim failed'))
    void this.ctx.crawlers.requestCrawl()
    return port
  }

  get port(): number {
    return this.shell.port
  }

  get url(): string {
    return `http://localhost:${this.port}`
  }

  async destroy(): Promise<void> {
    await this.shell.close()
    await this.ctx.destroy()
    markCleanShutdown(this.ctx)
  }
}
