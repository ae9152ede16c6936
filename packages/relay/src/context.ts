import fs from 'node:fs'
import path from 'node:path'
import { IdResolver } from '@atproto/identity'
import { EventLog } from '@atsuite/common'
import { AccountStore } from './accounts/account-store.ts'
import { CollectionIndex } from './accounts/collection-index.ts'
import { reconcileFromLog, setPersistedLogSeq } from './accounts/reconcile.ts'
import type { RelayConfig } from './config.ts'
import { openRelayDb, type RelayDb } from './db/index.ts'
import { IdentityCache } from './identity/identity-cache.ts'
import { HostManager } from './ingest/host-manager.ts'
import { EventProcessor } from './ingest/processor.ts'
import { Resyncer } from './ingest/resync.ts'
import { outboxLogger } from './logger.ts'
import { MergedLog } from './outbox/merged-log.ts'
import { systemClock, type Clock } from './util.ts'
import { SignatureVerifier } from '@atsuite/common/signature'
import { VerifyPool } from './validate/verify-pool.ts'

/** Collaborators a test may replace through `RelayServer.create(cfg, overrides)`. */
export type RelayOverrides = {
  idResolver?: IdResolver
  clock?: Clock
}

const FLUSH_INTERVAL_MS = 100

/** Every long-lived collaborator of the relay, built in one place. */
export class RelayContext {
  readonly cfg: RelayConfig
  readonly db: RelayDb
  /** the merged outgoing stream (the relay's own seqs) */
  readonly eventLog: EventLog
  readonly out: MergedLog
  readonly accounts: AccountStore
  /** listReposByCollection */
  readonly collections: CollectionIndex
  readonly identity: IdentityCache
  readonly verifier: SignatureVerifier
  /** commit verification threads (RELAY_VERIFY_THREADS) */
  readonly pool: VerifyPool
  readonly resync: Resyncer
  readonly processor: EventProcessor
  readonly hosts: HostManager
  readonly clock: Clock
  /** errors of the relay's own (a bug, a local fault), never charged to a host */
  readonly internal = { errors: 0 }
  private timer: NodeJS.Timeout | null = null

  private constructor(cfg: RelayConfig, db: RelayDb, overrides: RelayOverrides) {
    this.cfg = cfg
    this.db = db
    this.clock = overrides.clock ?? systemClock
    this.eventLog = new EventLog(path.join(cfg.dataDirectory, 'events.sqlite'), { retentionMs: cfg.retentionMs })
    // while the log refuses appends, hosts are let go (they re-send from their cursors once it recovers)
    // (MergedLog calls this only when the state changes)
    this.out = new MergedLog(this.eventLog, (failing) => {
      if (this.closing) return
      if (failing) void this.hosts.pause()
      else this.hosts.resume()
    })
    this.accounts = new AccountStore(db)
    this.collections = new CollectionIndex(db)
    // plain fetch: the default one refuses http:// and loopback, which local PLCs and PDSes use
    const resolver = overrides.idResolver ?? new IdResolver({ plcUrl: cfg.plcUrl, fetch: globalThis.fetch })
    this.identity = new IdentityCache(resolver, { ttlMs: cfg.identityTtlMs, clock: this.clock })
    this.verifier = new SignatureVerifier()
    this.pool = new VerifyPool(cfg.verifyThreads, this.verifier)
    this.resync = new Resyncer({
      identity: this.identity,
      accounts: this.accounts,
      collections: this.collections,
      out: this.out,
      allowInsecureHosts: cfg.allowInsecureHosts,
      clock: this.clock,
    })
    this.processor = new EventProcessor({
      accounts: this.accounts,
      collections: this.collections,
      identity: this.identity,
      pool: this.pool,
      out: this.out,
      resync: this.resync,
      clock: this.clock,
      syncMode: cfg.syncMode,
      futureRevToleranceMs: cfg.futureRevToleranceMs,
    })
    this.hosts = new HostManager({
      db,
      accounts: this.accounts,
      collections: this.collections,
      identity: this.identity,
      processor: this.processor,
      allowInsecureHosts: cfg.allowInsecureHosts,
      maxFrameBytes: cfg.maxFrameBytes,
      backoffMaxMs: cfg.backoffMaxMs,
      defaultRateLimit: cfg.hostRateLimit,
      internal: this.internal,
    })
  }

  static async create(cfg: RelayConfig, overrides: RelayOverrides = {}): Promise<RelayContext> {
    fs.mkdirSync(cfg.dataDirectory, { recursive: true })
    const db = await openRelayDb(path.join(cfg.dataDirectory, 'relay.sqlite'))
    return new RelayContext(cfg, db, overrides)
  }

  /** Starts ingesting: the write-behind timer, log trimming, and every known host. */
  start(): void {
    reconcileFromLog(this.db, this.eventLog, this.accounts)
    this.timer = setInterval(() => this.flush(), FLUSH_INTERVAL_MS)
    this.timer.unref()
    this.eventLog.startTrimming((err) => outboxLogger.warn({ err }, 'event log trim failed'))
    this.hosts.start(this.cfg.initialHosts)
  }

  /**
   * Persists in dependency order: relayed events first, then account state,
   * then host cursors — a cursor never runs ahead of what is in the log.
   * When the log refuses the events, nothing after it is persisted and host
   * subscriptions pause (their in-memory cursors and the queued events stay
   * consistent); the next flush that gets the events into the log resumes them.
   */
  flush(): void {
    try {
      if (!this.out.flush()) return
      const seq = this.eventLog.currentSeq
      // one transaction: state, collections and cursors persisted together, marked with the log seq they match
      this.db.transaction(() => {
        this.accounts.flush()
        this.collections.flush()
        this.hosts.flush()
        setPersistedLogSeq(this.db, seq)
      })
    } catch (err) {
      this.internal.errors++
      outboxLogger.error({ err }, 'flushing relay state failed')
    }
  }

  /** True while ingestion is paused because the event log refuses appends. */
  get ingestPaused(): boolean {
    return this.out.failing !== null
  }

  /** What `_health` reports: an error state while the event log refuses appends. */
  health(): { ok: true } | { ok: false; error: string; message: string } {
    const failing = this.out.failing
    if (!failing) return { ok: true }
    return {
      ok: false,
      error: 'EventLogUnavailable',
      message: `the event log refuses appends (${failing.message}); ${this.out.queued} events wait, ingestion is paused`,
    }
  }

  private closing = false

  async destroy(): Promise<void> {
    this.closing = true
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.resync.close()
    await this.hosts.stop()
    await this.pool.close()
    this.flush()
    this.out.close()
    await this.eventLog.close()
    await this.db.close()
  }
}
