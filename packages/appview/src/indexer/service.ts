import { EventEmitter } from 'node:events'
import { Worker } from 'node:worker_threads'
import { subsystemLogger } from '@atsuite/common'
import type { AppViewConfig } from '../config.ts'
import { dbOptions, openAppViewDb, type AppViewDb } from '../db/index.ts'
import { IndexerCounters, type CountersJson } from './counters.ts'
import { NetworkIdentity, type IdentityService } from './identity.ts'
import { batchLimit, Indexer } from './indexer.ts'
import { RepoFetcher } from './repo-fetch.ts'
import { RepoSubscription } from './subscription.ts'

const log = subsystemLogger('appview:indexer')

/** What the rest of the app view sees of indexing: where it is, and when it moves. */
export type IndexerStatus = {
  /** the upstream seq below which everything is indexed */
  cursor: number
  /** nothing batched, waiting, fetching or resolving */
  idle: boolean
  pendingEvents: number
  /** the stream's WebSocket is open */
  connected: boolean
  counters: CountersJson
}

export interface IndexerService extends EventEmitter<{ progress: [] }> {
  readonly status: IndexerStatus
  start(): Promise<void>
  close(): Promise<void>
}

const emptyStatus = (): IndexerStatus => ({ cursor: 0, idle: true, pendingEvents: 0, connected: false, counters: new IndexerCounters().toJSON() })

/**
 * Indexing in this thread: the subscription and the indexer share the event
 * loop with the HTTP server. `db` is a connection of its own.
 */
export class LocalIndexer extends EventEmitter<{ progress: [] }> implements IndexerService {
  readonly counters = new IndexerCounters()
  private readonly indexer: Indexer
  private readonly subscription: RepoSubscription | null
  private readonly db: AppViewDb

  constructor(cfg: AppViewConfig, db: AppViewDb, identity: IdentityService) {
    super()
    this.db = db
    this.indexer = new Indexer({
      db,
      counters: this.counters,
      fetcher: new RepoFetcher(identity, { maxBytes: cfg.maxRepoBytes, allowInsecure: cfg.allowInsecureHosts }),
      identity,
      service: cfg.repoStreamUrl ?? 'none',
      fetchConcurrency: cfg.backfillConcurrency,
      maxRecordBytes: cfg.maxRecordBytes,
      maxBatch: cfg.repoStreamUrl ? batchLimit(cfg.maxPendingEvents) : undefined,
    })
    this.subscription = cfg.repoStreamUrl
      ? new RepoSubscription({
          url: cfg.repoStreamUrl,
          indexer: this.indexer,
          counters: this.counters,
          maxPending: cfg.maxPendingEvents,
          maxRecordBytes: cfg.maxRecordBytes,
          startLive: cfg.streamStart === 'live',
          decodeThread: cfg.streamThread,
          onChange: () => this.emit('progress'),
        })
      : null
    this.indexer.on('progress', () => this.emit('progress'))
  }

  get status(): IndexerStatus {
    return {
      cursor: this.indexer.cursor,
      idle: this.indexer.idle,
      pendingEvents: this.indexer.pendingEvents,
      connected: this.subscription?.connected ?? false,
      counters: this.counters.toJSON(),
    }
  }

  async start(): Promise<void> {
    this.subscription?.start()
  }

  async close(): Promise<void> {
    this.subscription?.stop()
    this.indexer.close()
    await this.db.close()
  }
}

type FromWorker = { type: 'status'; status: IndexerStatus } | { type: 'closed' }

/**
 * Indexing on a worker thread with its own SQLite connection: the HTTP
 * server never waits for an indexing transaction (WAL lets the reads see each
 * commit as it lands), and indexing gets the other core. The worker reports
 * its status after every step; this mirror answers `status` and re-emits
 * `progress`. A worker that dies is restarted (it resumes from its saved
 * cursor).
 */
export class ThreadIndexer extends EventEmitter<{ progress: [] }> implements IndexerService {
  private readonly cfg: AppViewConfig
  private worker: Worker | null = null
  private current: IndexerStatus = emptyStatus()
  private closing = false
  private restartTimer: NodeJS.Timeout | null = null

  constructor(cfg: AppViewConfig) {
    super()
    this.cfg = cfg
  }

  get status(): IndexerStatus {
    return this.current
  }

  async start(): Promise<void> {
    if (this.worker) return
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: { cfg: this.cfg } })
    this.worker = worker
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'status') {
        this.current = msg.status
        this.emit('progress')
      }
    })
    worker.on('error', (err) => log.error({ err }, 'indexer thread failed'))
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null
      if (this.closing) return
      log.error({ code }, 'indexer thread exited; restarting')
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null
        void this.start()
      }, 1000)
    })
  }

  async close(): Promise<void> {
    this.closing = true
    if (this.restartTimer) clearTimeout(this.restartTimer)
    const worker = this.worker
    if (!worker) return
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    worker.postMessage({ type: 'close' })
    const timer = setTimeout(() => void worker.terminate(), 10_000)
    await exited
    clearTimeout(timer)
  }
}

/** The indexer the configuration asks for; `db` is only used in-process. */
export const createIndexerService = async (cfg: AppViewConfig, identity: IdentityService): Promise<IndexerService> => {
  if (cfg.indexerThread) return new ThreadIndexer(cfg)
  const db = await openAppViewDb(cfg.dbLocation, dbOptions(cfg, 'indexer'))
  return new LocalIndexer(cfg, db, identity)
}

/** The identity service a worker thread builds for itself (tests' overrides apply in-process only). */
export const workerIdentity = (cfg: AppViewConfig): IdentityService =>
  new NetworkIdentity({ plcUrl: cfg.plcUrl, pdsVerifiedSuffixes: cfg.pdsVerifiedHandleSuffixes })
