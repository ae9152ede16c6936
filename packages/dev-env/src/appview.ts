import { AppView, envToConfig, type AppViewConfig, type AppViewOverrides } from '@atsuite/appview'
import type { NetworkService } from './service.ts'
import { clientsSeeClose, waitUntil, type Wakeup } from './util.ts'

export type TestAppViewOptions = {
  /** env-style overrides (APPVIEW_*), applied over the loopback test defaults */
  env?: Record<string, string>
  overrides?: AppViewOverrides
}

/**
 * An app view config for tests: loopback on a port chosen before start (its
 * did:web names it, and the PDS must know it), temp directories, `.test`
 * handles verified through their PDS, responses validated against the lexicons.
 */
export const testAppViewConfig = (plcUrl: string, streamUrl: string, dataDirectory: string, port: number, env: Record<string, string> = {}): AppViewConfig =>
  envToConfig({
    APPVIEW_PORT: String(port),
    APPVIEW_BIND_HOST: '127.0.0.1',
    APPVIEW_DATA_DIRECTORY: dataDirectory,
    APPVIEW_PLC_URL: plcUrl,
    APPVIEW_REPO_STREAM_URL: streamUrl,
    APPVIEW_PUBLIC_URL: `http://localhost:${port}`,
    APPVIEW_DID: `did:web:localhost%3A${port}`,
    APPVIEW_ALLOW_INSECURE_HOSTS: 'true',
    APPVIEW_PDS_VERIFIED_HANDLE_SUFFIXES: '.test',
    ...env,
  })

const onProgress =
  (appview: AppView): Wakeup =>
  (fn) => {
    appview.ctx.indexer.on('progress', fn)
    return () => void appview.ctx.indexer.off('progress', fn)
  }

type Upstream = NetworkService & { readonly url: string }

/** The app view of the network, indexing its upstream's stream (the relay's); restarts on the same port and data. */
export class AppViewService implements NetworkService {
  readonly name = 'appview'
  readonly upstream: Upstream
  readonly port: number
  private readonly config: () => AppViewConfig
  private readonly overrides: AppViewOverrides
  private current: AppView | null = null
  private last: AppView | null = null

  constructor(config: () => AppViewConfig, upstream: Upstream, port: number, overrides: AppViewOverrides = {}) {
    this.config = config
    this.upstream = upstream
    this.port = port
    this.overrides = overrides
  }

  get running(): boolean {
    return this.current !== null
  }

  get server(): AppView {
    if (!this.last) throw new Error('the app view was never started')
    return this.last
  }

  get url(): string {
    return `http://localhost:${this.port}`
  }

  get did(): string {
    return `did:web:localhost%3A${this.port}`
  }

  async start(): Promise<void> {
    if (this.current) return
    const appview = await AppView.create(this.config(), { ...this.overrides, validateResponses: process.env.APPVIEW_VALIDATE_RESPONSES !== 'false' })
    await appview.start()
    this.current = this.last = appview
  }

  async destroy(): Promise<void> {
    const appview = this.current
    this.current = null
    await appview?.destroy()
    await clientsSeeClose()
  }

  cursor(): number {
    return this.server.ctx.indexer.status.cursor
  }

  /** Resolves once everything up to upstream `seq` is indexed and no fetch or identity lookup is pending. */
  waitForCursor(seq: number, timeoutMs: number): Promise<void> {
    const appview = this.server
    return waitUntil(() => appview.ctx.indexer.status.cursor >= seq && appview.ctx.indexer.status.idle, {
      timeoutMs,
      wakeOn: [onProgress(appview)],
      pollMs: 50,
      describe: () =>
        `app view cursor is at ${appview.ctx.indexer.status.cursor} (idle: ${appview.ctx.indexer.status.idle}, pending events: ${appview.ctx.indexer.status.pendingEvents}), behind upstream seq ${seq}`,
    })
  }
}
