import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { AtpAgent } from '@atproto/api'
import type { PlcServer } from '@atsuite/plc'
import type { ContextOverrides, PDS } from '@atsuite/pds'
import type { RelayServer } from '@atsuite/relay'
import type { AppView } from '@atsuite/appview'
import { AppViewService, testAppViewConfig, type TestAppViewOptions } from './appview.ts'
import { PdsService, testSecrets, type TestPdsOptions } from './pds.ts'
import { PlcService } from './plc.ts'
import { RelayService, relayAdminHeaders, requestCrawl, testRelayConfig, waitForHostCursor, type TestRelayOptions } from './relay.ts'
import type { NetworkService } from './service.ts'
import { freePort } from './util.ts'

export type TestNetworkOptions = TestPdsOptions & {
  /** the relay crawling the PDS: on by default (options for it), `false` for PLC + PDS only */
  relay?: boolean | TestRelayOptions
  /** an app view indexing the relay's stream, named to the PDS as its app view: off by default */
  appview?: boolean | TestAppViewOptions
}

export type TestUser = { agent: AtpAgent; did: string; handle: string; password: string }

const PROCESS_ALL_TIMEOUT_MS = 10_000

/**
 * The in-process test network: a PLC directory, a PDS and (unless `relay:
 * false`) a relay crawling it, on loopback ports chosen by the OS, data in a
 * temp directory removed on `close()`. Each server is a `NetworkService`
 * that can be stopped and started again on the same port and data
 * (`service(name)`, `restart(name)`); `pds`, `plc` and `relay` are the
 * current server objects. The relay crawls the PDS before anything is
 * written to it: a relay takes a new host live from where it stands, so it
 * would never see events sequenced before it connected.
 */
export class TestNetwork {
  readonly dir: string
  /** in start order, upstream first */
  readonly services: readonly NetworkService[]
  private readonly plcService: PlcService
  private readonly pdsService: PdsService
  private readonly relayService: RelayService | null
  private readonly appviewService: AppViewService | null
  private readonly ownsDir: boolean
  private readonly pdsEnv: Record<string, string>
  /** PDSes added with addPds(), in order */
  private readonly extraPds: PdsService[] = []

  private constructor(
    dir: string,
    ownsDir: boolean,
    plc: PlcService,
    pds: PdsService,
    relay: RelayService | null,
    appview: AppViewService | null,
    pdsEnv: Record<string, string>,
  ) {
    this.pdsEnv = pdsEnv
    this.dir = dir
    this.ownsDir = ownsDir
    this.plcService = plc
    this.pdsService = pds
    this.relayService = relay
    this.appviewService = appview
    this.services = [plc, pds, ...(relay ? [relay] : []), ...(appview ? [appview] : [])]
  }

  static async create(opts: TestNetworkOptions = {}): Promise<TestNetwork> {
    const ownsDir = !opts.dataDirectory
    const dir = opts.dataDirectory ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'atsuite-net-')))
    const plc = new PlcService(path.join(dir, 'plc.sqlite'))
    const av = opts.appview === true ? {} : opts.appview || null
    if (av && opts.relay === false) throw new Error('an app view needs the relay: do not combine appview with relay: false')
    // the app view's port is fixed first: its did:web names it, and the PDS proxies to it
    const appviewPort = av ? await freePort() : 0
    const pdsEnv = av
      ? { PDS_BSKY_APP_VIEW_URL: `http://localhost:${appviewPort}`, PDS_BSKY_APP_VIEW_DID: `did:web:localhost%3A${appviewPort}`, ...opts.env }
      : { PDS_BSKY_APP_VIEW_URL: 'none', ...opts.env }
    const pds = new PdsService(() => plc.url, path.join(dir, 'pds'), pdsEnv, { ...testSecrets(), ...opts.secrets }, 'pds', opts.overrides)
    let relay: RelayService | null = null
    if (opts.relay !== false) {
      const r = opts.relay === true || opts.relay === undefined ? {} : opts.relay
      const cfg = () => testRelayConfig(plc.url, path.join(dir, 'relay'), r.env, r.overrides)
      relay = new RelayService(cfg, pds, r.crawl ?? true)
    }
    let appview: AppViewService | null = null
    if (av && relay) {
      const upstream = relay
      const cfg = () => testAppViewConfig(plc.url, upstream.url.replace(/^http/, 'ws'), path.join(dir, 'appview'), appviewPort, av.env)
      appview = new AppViewService(cfg, upstream, appviewPort, av.overrides)
    }
    const net = new TestNetwork(dir, ownsDir, plc, pds, relay, appview, pdsEnv)
    try {
      for (const s of net.services) await s.start()
    } catch (err) {
      await net.close().catch(() => undefined)
      throw err
    }
    return net
  }

  get plc(): PlcServer {
    return this.plcService.server
  }

  get pds(): PDS {
    return this.pdsService.server
  }

  /** The relay; throws for a network created with `relay: false`. */
  get relay(): RelayServer {
    if (!this.relayService) throw new Error('this network has no relay (created with relay: false)')
    return this.relayService.server
  }

  /** The app view; throws for a network created without `appview`. */
  get appview(): AppView {
    if (!this.appviewService) throw new Error('this network has no app view (create it with appview: true)')
    return this.appviewService.server
  }

  /** An agent talking to the app view directly (anonymous reads, or with service-auth headers). */
  appviewAgent(): AtpAgent {
    if (!this.appviewService) throw new Error('this network has no app view (create it with appview: true)')
    return new AtpAgent({ service: this.appviewService.url })
  }

  /**
   * Starts another PDS on the same PLC directory (named `pds2`, `pds3`…, with
   * the same app view), crawled by the relay when there is one: two hosts,
   * e.g. to move an account between them. processAll() waits for it too.
   */
  async addPds(opts: { env?: Record<string, string>; overrides?: ContextOverrides } = {}): Promise<PDS> {
    const name = `pds${this.extraPds.length + 2}`
    const svc = new PdsService(() => this.plcService.url, path.join(this.dir, name), { ...this.pdsEnv, ...opts.env }, testSecrets(), name, opts.overrides)
    await svc.start()
    this.extraPds.push(svc)
    if (this.relayService?.running) await requestCrawl(this.relay, svc.hostname)
    return svc.server
  }

  /** How the relay names the PDS (`localhost:<port>`). */
  get pdsHostname(): string {
    return this.pdsService.hostname
  }

  /** A service by name (`plc`, `pds`, `relay`): start()/destroy() it to take it down and bring it back. */
  service(name: string): NetworkService {
    const s = [...this.services, ...this.extraPds].find((x) => x.name === name)
    if (!s) throw new Error(`no service "${name}" in this network (${this.services.map((x) => x.name).join(', ')})`)
    return s
  }

  /** Stops a service and starts it again on the same port and data; `whileDown` runs in between. */
  async restart(name: string, whileDown?: () => Promise<void>): Promise<void> {
    const s = this.service(name)
    await s.destroy()
    if (whileDown) await whileDown()
    await s.start()
  }

  /**
   * Waits until every consumer in the network has caught up with its
   * upstream's head, stage by stage: the relay's cursor for the PDS reaches
   * the PDS sequencer's latest seq and what it relayed is in its log (then,
   * with an app view, its cursor reaches the relay's head). Each stage aims
   * at the head as it was when the stage began, so concurrent writes cannot
   * keep it waiting. Returns the head of the last stream (the relay's seq a
   * consumer of it must reach); throws naming the cursor that is behind.
   */
  async processAll(timeoutMs = PROCESS_ALL_TIMEOUT_MS): Promise<number> {
    let head = 0
    for (const s of this.services) {
      if (s.upstream?.head && s.waitForCursor) {
        if (!s.running) throw new Error(`processAll: the ${s.name} is stopped`)
        const upstreamHead = s.upstream.head()
        await s.waitForCursor(upstreamHead, timeoutMs)
        head = upstreamHead
        if (s === this.relayService) {
          for (const x of this.extraPds) {
            if (x.running) await waitForHostCursor(this.relay, x.hostname, x.head(), timeoutMs)
          }
        }
      }
      if (s.head) head = s.head()
    }
    return head
  }

  /** An agent on the network's PDS, or on another one (addPds). */
  agent(pds: PDS = this.pds): AtpAgent {
    return new AtpAgent({ service: pds.url })
  }

  /** Basic auth header for the PDS admin (the test secrets' admin password). */
  adminAuthHeaders(): { authorization: string } {
    const basic = Buffer.from(`admin:${this.pds.ctx.secrets.adminPassword}`).toString('base64')
    return { authorization: `Basic ${basic}` }
  }

  /** Basic auth header for the relay's admin routes. */
  relayAdminHeaders(): { authorization: string } {
    return relayAdminHeaders(this.relay.ctx.cfg.adminPassword)
  }

  /**
   * Creates an account and returns a logged-in agent for it. When the PDS
   * requires invites, an admin-issued single-use code is used.
   */
  async createUser(name: string, password = 'hunter2-password', pds: PDS = this.pds): Promise<TestUser> {
    const agent = this.agent(pds)
    const handle = `${name}.test`
    let inviteCode: string | undefined
    if (this.pds.ctx.cfg.invites.required) {
      const res = await this.agent().com.atproto.server.createInviteCode({ useCount: 1 }, { headers: this.adminAuthHeaders() })
      inviteCode = res.data.code
    }
    await agent.createAccount({ handle, email: `${name}@example.com`, password, inviteCode })
    return { agent, did: agent.session!.did, handle, password }
  }

  /** Destroys every running service, downstream first, then removes the temp directory it created. */
  async close(): Promise<void> {
    const errors: unknown[] = []
    // downstream first: app view, relay, then the hosts, the PLC last
    const order = [...this.services.slice(2), ...this.extraPds, ...this.services.slice(0, 2)].reverse()
    for (const s of order) {
      if (!s.running) continue
      try {
        await s.destroy()
      } catch (err) {
        errors.push(err)
      }
    }
    if (this.ownsDir) await fs.rm(this.dir, { recursive: true, force: true })
    if (errors.length > 0) throw errors[0]
  }
}
