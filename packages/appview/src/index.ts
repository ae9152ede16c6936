import { ServiceShell } from '@atsuite/common'
import type { AppViewConfig } from './config.ts'
import { AppContext, type AppViewOverrides } from './context.ts'
import { registerRoutes } from './api/index.ts'
import { toXrpcError } from './errors.ts'
import { httpLogger } from './logger.ts'
import { wellKnownRouter } from './well-known.ts'
import { imageRouter } from './image/router.ts'

export * from './config.ts'
export { AppContext, type AppViewOverrides } from './context.ts'
export { SKIP_REASONS, type SkipReason } from './indexer/counters.ts'
export type { IdentityService, ResolvedIdentity } from './indexer/identity.ts'

/**
 * The app view: indexes a firehose (a relay's, or a PDS's) into SQLite and
 * serves the app.bsky read API over XRPC.
 */
export class AppView {
  readonly ctx: AppContext
  private readonly shell: ServiceShell

  private constructor(ctx: AppContext, shell: ServiceShell) {
    this.ctx = ctx
    this.shell = shell
  }

  static async create(cfg: AppViewConfig, overrides: AppViewOverrides & { validateResponses?: boolean } = {}): Promise<AppView> {
    const ctx = await AppContext.create(cfg, overrides)
    const validateResponses = overrides.validateResponses ?? false
    const shell = new ServiceShell({
      version: cfg.version,
      logger: httpLogger,
      xrpc: { validateResponses, jsonLimit: 100 * 1024 },
      errorParser: toXrpcError,
      before: [wellKnownRouter(ctx), imageRouter(ctx)],
    })
    registerRoutes(shell.xrpc, ctx, { preserialize: !validateResponses })
    return new AppView(ctx, shell)
  }

  /** Listens, then starts indexing. Returns the port. */
  async start(): Promise<number> {
    const port = await this.shell.listen(this.ctx.cfg.port, this.ctx.cfg.host)
    await this.ctx.start()
    return port
  }

  get port(): number {
    return this.shell.port
  }

  get url(): string {
    return `http://localhost:${this.port}`
  }

  registeredMethods(): string[] {
    return this.shell.registeredMethods()
  }

  async destroy(): Promise<void> {
    await this.shell.close()
    await this.ctx.destroy()
  }
}
