import fs from 'node:fs'
import express from 'express'
import { integrateFederation } from '@fedify/express'
import type { Federation } from '@fedify/fedify'
import { HttpServer } from '@atsuite/common'
import type { BridgeConfig } from './config.ts'
import { openBridgeDb, type BridgeDb } from './db/index.ts'
import { SqliteKvStore } from './fedify/kv.ts'
import { SqliteMessageQueue, type QueueChannel } from './fedify/queue.ts'
import { DeliveryLedger } from './fedify/delivery.ts'
import { createBridgeFederation } from './federation.ts'
import { BridgeStore } from './store.ts'
import { AtprotoAccounts } from './atproto/accounts.ts'
import { Profiles } from './atproto/profiles.ts'
import { BridgeStream } from './atproto/stream.ts'
import { inboxGuard } from './guard.ts'
import { HandleDomains, webfingerRoute } from './webfinger.ts'
import { bridgeLogger } from './logger.ts'

export * from './config.ts'

/** What a test (or an embedding) may supply instead of the real thing. */
export type BridgeOverrides = {
  /** the fetch used to look at users' handle domains (their WebFinger redirect) */
  domainFetch?: typeof fetch
}

/**
 * The fediverse bridge: Fedify's federation (actors, WebFinger, inboxes,
 * signed delivery from a SQLite-backed queue) in an express app, fed by the
 * relay's firehose and writing the fediverse's replies, likes and boosts
 * into mirror accounts on the PDS.
 */
export class Bridge {
  readonly cfg: BridgeConfig
  readonly db: BridgeDb
  readonly store: BridgeStore
  readonly accounts: AtprotoAccounts
  readonly federation: Federation<void>
  /** Fedify's task queues: inbound activities, deliveries, fan-outs */
  readonly queues: Record<QueueChannel, SqliteMessageQueue>
  readonly deliveries: DeliveryLedger
  readonly domains: HandleDomains
  readonly stream: BridgeStream
  private readonly kv: SqliteKvStore
  private readonly http: HttpServer
  private readonly abort = new AbortController()
  private sweeper: NodeJS.Timeout | undefined
  private queueDone: Promise<void> = Promise.resolve()

  private constructor(cfg: BridgeConfig, db: BridgeDb, overrides: BridgeOverrides) {
    this.cfg = cfg
    this.db = db
    const profiles = new Profiles(cfg.plcUrl)
    this.store = new BridgeStore(db, profiles)
    this.accounts = new AtprotoAccounts(cfg, db)
    this.kv = new SqliteKvStore(db)
    const fedContext = () => this.federation.createContext(new URL(cfg.publicUrl), undefined)
    const keyFor = async (keyId: string) => {
      const actor = new URL(keyId)
      actor.hash = ''
      const parsed = fedContext().parseUri(actor)
      const user = parsed?.type === 'actor' ? await this.store.user(parsed.identifier) : undefined
      return user ? JSON.parse(user.privateKeyJwk) : undefined
    }
    this.deliveries = new DeliveryLedger(db, cfg.delivery, `atsuite-bridge/${cfg.version} (+${cfg.publicUrl})`, keyFor)
    this.queues = {
      inbox: new SqliteMessageQueue(db, { channel: 'inbox', workers: cfg.inboxWorkers }),
      outbox: new SqliteMessageQueue(db, { channel: 'outbox', workers: cfg.queueWorkers, ledger: this.deliveries }),
      fanout: new SqliteMessageQueue(db, { channel: 'fanout', workers: 1 }),
    }
    this.federation = createBridgeFederation({ cfg, store: this.store, accounts: this.accounts, profiles, kv: this.kv, queues: this.queues })
    this.domains = new HandleDomains(cfg, this.store, overrides.domainFetch)
    this.stream = new BridgeStream({ cfg, store: this.store, accounts: this.accounts, profiles, federation: this.federation, domains: this.domains })
    const actorUri = (did: string) => fedContext().getActorUri(did).href
    const app = express()
    app.set('trust proxy', false)
    app.get('/_health', (_req, res) => {
      res.json({ version: cfg.version, queue: { inbox: this.queues.inbox.depth(), outbox: this.queues.outbox.depth(), fanout: this.queues.fanout.depth() }, cursor: this.stream.cursor ?? null, deliveries: this.deliveries.stats })
    })
    app.use(inboxGuard(cfg, this.deliveries))
    app.use(webfingerRoute({ cfg, store: this.store, domains: this.domains, actorUri }))
    app.use(integrateFederation(this.federation, () => undefined))
    app.use((_req, res) => {
      res.status(404).json({ error: 'NotFound', message: 'nothing here' })
    })
    this.http = new HttpServer(app)
  }

  static async create(cfg: BridgeConfig, overrides: BridgeOverrides = {}): Promise<Bridge> {
    fs.mkdirSync(cfg.dataDirectory, { recursive: true })
    return new Bridge(cfg, await openBridgeDb(cfg.dbLocation), overrides)
  }

  async start(): Promise<number> {
    const port = await this.http.listen(this.cfg.port, this.cfg.host)
    this.queueDone = this.federation.startQueue(undefined, { signal: this.abort.signal }).catch((err: unknown) => {
      bridgeLogger.error({ err }, 'task queue stopped')
    })
    await this.stream.start()
    this.sweeper = setInterval(() => {
      this.kv.sweep()
      this.deliveries.prune()
    }, 10 * 60_000)
    this.sweeper.unref()
    bridgeLogger.info({ port, publicUrl: this.cfg.publicUrl }, 'bridge listening')
    return port
  }

  /** Tasks waiting in all queues. */
  queueDepth(): number {
    return this.queues.inbox.depth() + this.queues.outbox.depth() + this.queues.fanout.depth()
  }

  get port(): number {
    return this.http.port
  }

  async destroy(): Promise<void> {
    clearInterval(this.sweeper)
    this.abort.abort()
    await this.stream.destroy()
    await this.http.close()
    // the task in hand finishes (or is left to be taken again after a restart) before the database closes
    await this.queueDone
    this.deliveries.close()
    await this.db.close()
  }
}
