import { EventEmitter } from 'node:events'
import type Database from 'better-sqlite3'
import type { AccountStore } from '../accounts/account-store.ts'
import type { CollectionIndex } from '../accounts/collection-index.ts'
import type { HostRow, RelayDb } from '../db/index.ts'
import { InvalidRequestError } from '../errors.ts'
import type { IdentityCache } from '../identity/identity-cache.ts'
import { ingestLogger as log } from '../logger.ts'
import { emptyCounters, parseCounters, type HostCounters } from './counters.ts'
import { enumerateHost, type EnumerateResult } from './enumerate.ts'
import { HostSubscription } from './host-subscription.ts'
import { checkHostAllowed, httpBase, normalizeHostname } from './hostname.ts'
import type { EventProcessor } from './processor.ts'

export type HostStatusName = 'active' | 'throttled' | 'idle' | 'offline' | 'banned'

/** Taking a newly crawled host's existing accounts from its listRepos (ingest/enumerate.ts). */
export type Enumeration = { state: 'running' } | ({ state: 'done' } & EnumerateResult) | { state: 'failed'; error: string }

/** A host's state and counters (`ctx.hosts.status`, `GET /admin/hosts`). */
export type HostStatus = HostCounters & {
  /** the listing of its existing accounts, for hosts crawled since this relay started */
  enumeration?: Enumeration
  hostname: string
  status: HostStatusName
  /** last upstream seq processed */
  cursor: number
  accountCount: number
  rateLimit: number
  connects: number
}

type Host = {
  hostname: string
  banned: boolean
  rateLimit: number | null
  counters: HostCounters
  createdAt: string
  sub: HostSubscription | null
  /** cursor last written to the DB */
  savedCursor: number
  savedCounters: string
  enumeration?: Enumeration
}

export type HostManagerDeps = {
  db: RelayDb
  accounts: AccountStore
  collections: CollectionIndex
  identity: IdentityCache
  processor: EventProcessor
  allowInsecureHosts: boolean
  maxFrameBytes: number
  backoffMaxMs: number
  defaultRateLimit: number
  internal: { errors: number }
}

const DESCRIBE_TIMEOUT_MS = 10_000
const OPEN_WAIT_MS = 5_000

/**
 * The upstream hosts: their rows in the state DB, one HostSubscription each
 * (unless banned), counters, bans and rate limits. Cursors and counters are
 * written back by `flush()` (called on a timer and at shutdown), so a
 * restart resumes each host where it was.
 */
export class HostManager extends EventEmitter<{ cursor: [hostname: string, seq: number] }> {
  private readonly d: HostManagerDeps
  private readonly hosts = new Map<string, Host>()
  private readonly saveStmt: Database.Statement
  private started = false
  private paused = false

  constructor(deps: HostManagerDeps) {
    super()
    this.d = deps
    this.saveStmt = deps.db.sqlite.prepare(`
      INSERT INTO host (hostname, banned, cursor, rateLimit, counters, createdAt)
      VALUES (@hostname, @banned, @cursor, @rateLimit, @counters, @createdAt)
      ON CONFLICT (hostname) DO UPDATE SET banned = excluded.banned, cursor = excluded.cursor,
        rateLimit = excluded.rateLimit, counters = excluded.counters`)
    const rows = deps.db.sqlite.prepare('SELECT * FROM host ORDER BY createdAt, hostname').all() as HostRow[]
    for (const row of rows) {
      const counters = parseCounters(row.counters)
      this.hosts.set(row.hostname, {
        hostname: row.hostname,
        banned: row.banned === 1,
        rateLimit: row.rateLimit,
        counters,
        createdAt: row.createdAt,
        sub: null,
        savedCursor: Number(row.cursor),
        savedCounters: JSON.stringify(counters),
      })
    }
  }

  /** Subscribes to every known host that is not banned, plus `initial` (RELAY_CRAWL_HOSTS, unchecked). */
  start(initial: string[]): void {
    this.started = true
    for (const raw of initial) {
      try {
        const hostname = normalizeHostname(raw)
        checkHostAllowed(hostname, this.d.allowInsecureHosts)
        if (!this.hosts.has(hostname)) this.enumerate(this.add(hostname))
      } catch (err) {
        log.warn({ host: raw, err: (err as Error).message }, 'ignoring RELAY_CRAWL_HOSTS entry')
      }
    }
    for (const host of this.hosts.values()) if (!host.banned) this.subscribe(host)
  }

  async stop(): Promise<void> {
    this.started = false
    this.paused = false
    await Promise.all([...this.hosts.values()].map((h) => h.sub?.stop()))
  }

  /**
   * Disconnects from every host and stops reading (the relay cannot store
   * events right now). Each subscription keeps its cursor: `resume()`
   * reconnects from there and the host re-sends what came after it.
   */
  async pause(): Promise<void> {
    if (!this.started) return
    this.started = false
    this.paused = true
    log.warn({ hosts: this.hosts.size }, 'pausing ingestion')
    await Promise.all([...this.hosts.values()].map((h) => h.sub?.stop()))
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    this.started = true
    log.info({ hosts: this.hosts.size }, 'resuming ingestion')
    for (const host of this.hosts.values()) {
      if (host.sub) host.sub.start()
      else if (!host.banned) this.subscribe(host)
    }
  }

  /**
   * com.atproto.sync.requestCrawl (and the admin crawl): normalises the
   * name, refuses banned and disallowed hosts, checks that the host answers
   * com.atproto.server.describeServer, then subscribes (waiting briefly for
   * the connection). Crawling a host already subscribed is a no-op.
   */
  async requestCrawl(input: string): Promise<string> {
    const hostname = normalizeHostname(input)
    checkHostAllowed(hostname, this.d.allowInsecureHosts)
    const existing = this.hosts.get(hostname)
    if (existing?.banned) throw new InvalidRequestError(`host ${hostname} is banned`, 'HostBanned')
    if (existing?.sub) return hostname
    await this.describe(hostname)
    const host = existing ?? this.add(hostname)
    const sub = this.subscribe(host)
    if (sub) await sub.waitOpen(OPEN_WAIT_MS)
    // subscribed first, then listed: nothing written in between is missed (see enumerate.ts)
    if (!existing) this.enumerate(host)
    return hostname
  }

  private async describe(hostname: string): Promise<void> {
    const url = `${httpBase(hostname, this.d.allowInsecureHosts)}/xrpc/com.atproto.server.describeServer`
    let res: Response
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(DESCRIBE_TIMEOUT_MS), redirect: 'error' })
    } catch (err) {
      throw new InvalidRequestError(`host ${hostname} is unreachable (describeServer failed: ${(err as Error).message})`)
    }
    await res.body?.cancel()
    if (!res.ok) throw new InvalidRequestError(`host ${hostname} did not answer describeServer (HTTP ${res.status})`)
  }

  private add(hostname: string): Host {
    const host: Host = {
      hostname,
      banned: false,
      rateLimit: null,
      counters: emptyCounters(),
      createdAt: new Date().toISOString(),
      sub: null,
      savedCursor: 0,
      savedCounters: '',
    }
    this.hosts.set(hostname, host)
    this.save(host)
    return host
  }

  private subscribe(host: Host): HostSubscription | null {
    if (!this.started || host.banned) return null
    if (host.sub) return host.sub
    host.sub = new HostSubscription({
      hostname: host.hostname,
      counters: host.counters,
      processor: this.d.processor,
      identity: this.d.identity,
      allowInsecureHosts: this.d.allowInsecureHosts,
      maxFrameBytes: this.d.maxFrameBytes,
      backoffMaxMs: this.d.backoffMaxMs,
      rateLimit: host.rateLimit ?? this.d.defaultRateLimit,
      cursor: host.savedCursor,
      onAdvance: (hostname, seq) => this.emit('cursor', hostname, seq),
      internal: this.d.internal,
    })
    host.sub.start()
    return host.sub
  }

  private find(input: string): Host | undefined {
    let hostname: string
    try {
      hostname = normalizeHostname(input)
    } catch {
      return undefined
    }
    return this.hosts.get(hostname)
  }

  /** Stops the subscription and refuses the host's crawl requests until unbanned. */
  async ban(input: string): Promise<HostStatus> {
    const hostname = normalizeHostname(input)
    const host = this.hosts.get(hostname) ?? this.add(hostname)
    host.banned = true
    const sub = host.sub
    host.sub = null
    if (sub) {
      await sub.stop()
      host.savedCursor = sub.cursor
    }
    this.save(host)
    log.info({ host: hostname }, 'host banned')
    return this.statusOf(host)
  }

  /** Lifts a ban and resumes from the host's cursor. */
  unban(input: string): HostStatus {
    const host = this.find(input)
    if (!host) throw new InvalidRequestError(`unknown host ${input}`, 'HostNotFound')
    host.banned = false
    this.save(host)
    this.subscribe(host)
    log.info({ host: host.hostname }, 'host unbanned')
    return this.statusOf(host)
  }

  setRateLimit(input: string, perSecond: number): HostStatus {
    if (!Number.isFinite(perSecond) || perSecond <= 0) throw new InvalidRequestError('rateLimit must be a positive number of events per second')
    const host = this.find(input)
    if (!host) throw new InvalidRequestError(`unknown host ${input}`, 'HostNotFound')
    host.rateLimit = perSecond
    host.sub?.setRateLimit(perSecond)
    this.save(host)
    return this.statusOf(host)
  }

  /** The last upstream seq processed for a host (0 when unknown or never connected). */
  cursor(hostname: string): number {
    return this.status(hostname)?.cursor ?? 0
  }

  status(hostname: string): HostStatus | undefined {
    const host = this.find(hostname)
    return host ? this.statusOf(host) : undefined
  }

  /** Hosts in hostname order after `cursor` (keyset pagination for listHosts). */
  list(limit = Number.MAX_SAFE_INTEGER, cursor?: string): HostStatus[] {
    return [...this.hosts.keys()]
      .sort()
      .filter((h) => cursor === undefined || h > cursor)
      .slice(0, limit)
      .map((h) => this.statusOf(this.hosts.get(h)!))
  }

  private statusOf(host: Host): HostStatus {
    const sub = host.sub
    const status: HostStatusName = host.banned ? 'banned' : sub ? sub.status : 'idle'
    return {
      hostname: host.hostname,
      status,
      cursor: sub?.cursor ?? host.savedCursor,
      accountCount: this.d.accounts.accountCount(host.hostname),
      eventsRelayed: host.counters.eventsRelayed,
      dropped: { ...host.counters.dropped },
      rateLimit: host.rateLimit ?? this.d.defaultRateLimit,
      connects: sub?.connects ?? 0,
      ...(host.enumeration ? { enumeration: host.enumeration } : {}),
    }
  }

  /** Lists a newly crawled host's existing accounts in the background (never blocks the crawl). */
  private enumerate(host: Host): void {
    host.enumeration = { state: 'running' }
    enumerateHost(host.hostname, {
      accounts: this.d.accounts,
      collections: this.d.collections,
      identity: this.d.identity,
      allowInsecureHosts: this.d.allowInsecureHosts,
      stopped: () => !this.started && !this.paused,
    }).then(
      (r) => {
        host.enumeration = { state: 'done', ...r }
        log.info({ host: host.hostname, ...r }, 'took the host\'s existing accounts from listRepos')
      },
      (err: unknown) => {
        host.enumeration = { state: 'failed', error: (err as Error).message }
        log.warn({ host: host.hostname, err: (err as Error).message }, 'listing the host\'s accounts failed; they appear with their next event')
      },
    )
  }

  /** Writes changed cursors and counters (one transaction). Call after the event log and accounts are flushed. */
  flush(): void {
    const changed: Host[] = []
    for (const host of this.hosts.values()) {
      const cursor = host.sub?.cursor ?? host.savedCursor
      if (cursor !== host.savedCursor || JSON.stringify(host.counters) !== host.savedCounters) changed.push(host)
    }
    if (changed.length === 0) return
    this.d.db.transaction(() => {
      for (const host of changed) this.save(host)
    })
  }

  private save(host: Host): void {
    const cursor = host.sub?.cursor ?? host.savedCursor
    const counters = JSON.stringify(host.counters)
    this.saveStmt.run({
      hostname: host.hostname,
      banned: host.banned ? 1 : 0,
      cursor,
      rateLimit: host.rateLimit,
      counters,
      createdAt: host.createdAt,
    })
    host.savedCursor = cursor
    host.savedCounters = counters
  }
}
