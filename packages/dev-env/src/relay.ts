import { RelayServer, envToConfig, type HostStatus, type RelayConfig } from '@atsuite/relay'
import type { NetworkService } from './service.ts'
import { clientsSeeClose, nextTurn, onAppend, waitUntil, type Wakeup } from './util.ts'

export const RELAY_ADMIN_PASSWORD = 'admin'

export type TestRelayOptions = {
  /** env-style overrides (RELAY_*), applied over the loopback test defaults */
  env?: Record<string, string>
  /** typed config fields over the env (buffer and frame limits) */
  overrides?: Partial<RelayConfig>
  /** crawl the network's PDS when the network starts (default true); false leaves requestCrawl to the test */
  crawl?: boolean
}

/**
 * A relay config for tests, through `envToConfig` like the real binary:
 * loopback, OS-chosen port, loopback hosts over plain http/ws, admin
 * password `admin`, reconnect backoff capped at 500 ms.
 */
export const testRelayConfig = (
  plcUrl: string,
  dataDirectory: string,
  env: Record<string, string> = {},
  overrides: Partial<RelayConfig> = {},
): RelayConfig => ({
  ...envToConfig({
    RELAY_PORT: '0',
    RELAY_HOST: '127.0.0.1',
    RELAY_DATA_DIRECTORY: dataDirectory,
    RELAY_PLC_URL: plcUrl,
    RELAY_ALLOW_INSECURE_HOSTS: 'true',
    RELAY_ADMIN_PASSWORD: RELAY_ADMIN_PASSWORD,
    RELAY_BACKOFF_MAX_MS: '500',
    ...env,
  }),
  ...overrides,
})

export const startTestRelay = async (cfg: RelayConfig): Promise<RelayServer> => {
  const relay = await RelayServer.create(cfg)
  await relay.start()
  return relay
}

const hostStatus = (relay: RelayServer, hostname: string): HostStatus | undefined => relay.ctx.hosts.status(hostname)

/** Wakes whenever the relay's cursor for any host moves. */
const onCursor =
  (relay: RelayServer): Wakeup =>
  (fn) => {
    relay.ctx.hosts.on('cursor', fn)
    return () => void relay.ctx.hosts.off('cursor', fn)
  }

/**
 * Resolves once the relay has processed (relayed or dropped) `hostname`'s
 * events up to upstream `seq`, no resync holds events back, and what it
 * relayed is in its own log. Wakes on the relay's cursor moves and log
 * appends: no polling.
 */
export const waitForHostCursor = async (relay: RelayServer, hostname: string, seq: number, timeoutMs = 10_000): Promise<void> => {
  await waitUntil(() => relay.ctx.hosts.cursor(hostname) >= seq && relay.ctx.resync.pending === 0, {
    timeoutMs,
    wakeOn: [onCursor(relay), onAppend(relay.ctx.eventLog)],
    pollMs: 50,
    describe: () => {
      const s = hostStatus(relay, hostname)
      return s
        ? `relay cursor for ${hostname} is at ${s.cursor}, behind upstream seq ${seq} (host ${s.status}, ${s.connects} connects)`
        : `relay does not know host ${hostname} (waiting for its seq ${seq})`
    },
  })
  // events relayed by the last processed frames are appended to the log in a batch on the next turn
  await nextTurn()
}

/** Resolves once the relay reports `status` for `hostname` (e.g. `offline` after the host went away). */
export const waitForHostStatus = (relay: RelayServer, hostname: string, status: HostStatus['status'], timeoutMs = 10_000): Promise<void> =>
  waitUntil(() => hostStatus(relay, hostname)?.status === status, {
    timeoutMs,
    describe: () => `relay reports host ${hostname} as ${hostStatus(relay, hostname)?.status ?? 'unknown'}, waiting for ${status}`,
  })

/** Basic auth for the relay's admin routes. */
export const relayAdminHeaders = (password = RELAY_ADMIN_PASSWORD): { authorization: string } => ({
  authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`,
})

type Upstream = NetworkService & { readonly hostname: string }

/**
 * The relay of the network, crawling the upstream PDS once at first start
 * (through requestCrawl, which returns once connected); a restart keeps the
 * port and data directory, and the relay resumes every known host from its
 * saved cursor by itself.
 */
export class RelayService implements NetworkService {
  readonly name = 'relay'
  readonly upstream: Upstream
  private readonly config: () => RelayConfig
  private readonly crawl: boolean
  private current: RelayServer | null = null
  private last: RelayServer | null = null
  /** the bound port, kept for restarts (a stopped server no longer knows it) */
  private port = 0

  /** `config` is read at each start (the PLC directory's URL is known only once it runs) */
  constructor(config: () => RelayConfig, upstream: Upstream, crawl: boolean) {
    this.config = config
    this.upstream = upstream
    this.crawl = crawl
  }

  get running(): boolean {
    return this.current !== null
  }

  /** The relay's base URL (its port stays the same across restarts). */
  get url(): string {
    return `http://localhost:${this.port}`
  }

  /** The running relay, or the last one while stopped. */
  get server(): RelayServer {
    if (!this.last) throw new Error('the relay was never started')
    return this.last
  }

  async start(): Promise<void> {
    if (this.current) return
    const first = this.last === null
    const cfg = this.config()
    const relay = await startTestRelay(first ? cfg : { ...cfg, port: this.port })
    this.port = relay.port
    this.current = this.last = relay
    if (first && this.crawl) await requestCrawl(relay, this.upstream.hostname)
  }

  async destroy(): Promise<void> {
    const relay = this.current
    this.current = null
    await relay?.destroy()
    await clientsSeeClose()
  }

  head(): number {
    return this.server.ctx.eventLog.currentSeq
  }

  cursor(): number {
    return hostStatus(this.server, this.upstream.hostname)?.cursor ?? 0
  }

  waitForCursor(seq: number, timeoutMs: number): Promise<void> {
    return waitForHostCursor(this.server, this.upstream.hostname, seq, timeoutMs)
  }
}

/** com.atproto.sync.requestCrawl over HTTP, as a PDS would ask; throws unless the relay is then connected. */
export const requestCrawl = async (relay: RelayServer, hostname: string): Promise<void> => {
  const res = await fetch(`${relay.url}/xrpc/com.atproto.sync.requestCrawl`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hostname }),
  })
  if (res.status !== 200) throw new Error(`relay requestCrawl of ${hostname}: HTTP ${res.status} ${await res.text()}`)
  const status = hostStatus(relay, hostname)?.status
  if (status !== 'active') throw new Error(`relay is not connected to ${hostname} after requestCrawl (status ${status})`)
}
