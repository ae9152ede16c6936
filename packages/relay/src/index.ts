import { ServiceShell } from '@atsuite/common'
import { adminRouter } from './api/admin.ts'
import { getRepo } from './api/com/atproto/sync/getRepo.ts'
import { subscribeRepos } from './api/com/atproto/sync/subscribeRepos.ts'
import { registerRoutes } from './api/index.ts'
import type { RelayConfig } from './config.ts'
import { RelayContext, type RelayOverrides } from './context.ts'
import { toXrpcError } from './errors.ts'
import { JetstreamServer } from './jetstream/server.ts'
import { httpLogger } from './logger.ts'

export * from './config.ts'
export { RelayContext, type RelayOverrides } from './context.ts'
export type { HostStatus } from './ingest/host-manager.ts'
export { DROP_REASONS, type DropReason } from './ingest/counters.ts'

/**
 * The relay: crawls PDS hosts, verifies every event, and serves one merged
 * `com.atproto.sync.subscribeRepos` with its own seqs.
 */
export class RelayServer {
  readonly ctx: RelayContext
  private readonly shell: ServiceShell

  private constructor(ctx: RelayContext, shell: ServiceShell) {
    this.ctx = ctx
    this.shell = shell
  }

  static async create(cfg: RelayConfig, overrides: RelayOverrides = {}): Promise<RelayServer> {
    const ctx = await RelayContext.create(cfg, overrides)
    const getRepoRoute = getRepo(ctx)
    const shell = new ServiceShell({
      version: cfg.version,
      logger: httpLogger,
      xrpc: { validateResponses: false, jsonLimit: 100 * 1024 },
      errorParser: toXrpcError,
      subscriptions: [subscribeRepos(ctx), new JetstreamServer(ctx.eventLog, { maxBufferBytes: ctx.cfg.maxBufferBytes })],
      health: () => ctx.health(),
      before: [
        // getRepo redirects to the account's PDS: a plain route (see its file)
        (req, res, next) => (req.path === '/xrpc/com.atproto.sync.getRepo' ? getRepoRoute(req, res, next) : next()),
        adminRouter(ctx),
      ],
      wwwAuthenticate: 'Basic realm="relay admin"',
    })
    registerRoutes(shell.xrpc, ctx)
    return new RelayServer(ctx, shell)
  }

  registeredMethods(): string[] {
    return [...this.shell.registeredMethods(), 'com.atproto.sync.getRepo', 'com.atproto.sync.subscribeRepos'].sort()
  }

  /** Listens, then starts ingesting from every known host. Returns the port. */
  async start(): Promise<number> {
    const port = await this.shell.listen(this.ctx.cfg.port, this.ctx.cfg.host)
    this.ctx.start()
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
  }
}
