import fs from 'node:fs'
import type { DidString } from '@atproto/syntax'
import type { AppViewConfig } from './config.ts'
import { openAppViewDb, type AppViewDb } from './db/index.ts'
import { AuthVerifier } from './auth/auth-verifier.ts'
import { IndexerCounters } from './indexer/counters.ts'
import { NetworkIdentity, type IdentityService } from './indexer/identity.ts'
import { Indexer } from './indexer/indexer.ts'
import { RepoFetcher } from './indexer/repo-fetch.ts'
import { RepoSubscription } from './indexer/subscription.ts'
import { BlobCache } from './image/blob-cache.ts'
import { FeedGenClient } from './feedgen/client.ts'
import { imageUrlBuilder, type ImagePreset, type ImageUrl } from './views/context.ts'

/** Collaborators a test may replace through `AppView.create(cfg, overrides)`. */
export type AppViewOverrides = {
  identity?: IdentityService
}

/** Every long-lived collaborator of the app view, built in one place. */
export class AppContext {
  readonly cfg: AppViewConfig
  readonly db: AppViewDb
  readonly identity: IdentityService
  readonly counters: IndexerCounters
  readonly indexer: Indexer
  readonly subscription: RepoSubscription | null
  readonly auth: AuthVerifier
  readonly blobs: BlobCache
  readonly feedGens: FeedGenClient
  readonly imageUrl: (preset: ImagePreset, did: DidString, cid: string) => ImageUrl

  private constructor(cfg: AppViewConfig, db: AppViewDb, overrides: AppViewOverrides) {
    this.cfg = cfg
    this.db = db
    this.identity =
      overrides.identity ?? new NetworkIdentity({ plcUrl: cfg.plcUrl, pdsVerifiedSuffixes: cfg.pdsVerifiedHandleSuffixes })
    this.counters = new IndexerCounters()
    this.indexer = new Indexer({
      db,
      counters: this.counters,
      fetcher: new RepoFetcher(this.identity, { maxBytes: cfg.maxRepoBytes, allowInsecure: cfg.allowInsecureHosts }),
      identity: this.identity,
      service: cfg.repoStreamUrl ?? 'none',
      fetchConcurrency: cfg.backfillConcurrency,
      maxRecordBytes: cfg.maxRecordBytes,
    })
    this.subscription = cfg.repoStreamUrl
      ? new RepoSubscription({
          url: cfg.repoStreamUrl,
          indexer: this.indexer,
          counters: this.counters,
          maxPending: cfg.maxPendingEvents,
          startLive: cfg.streamStart === 'live',
        })
      : null
    this.auth = new AuthVerifier(cfg.did, this.identity)
    this.blobs = new BlobCache({ dir: cfg.blobCacheDirectory, maxBytes: cfg.maxBlobBytes, allowInsecure: cfg.allowInsecureHosts })
    this.feedGens = new FeedGenClient({ identity: this.identity, timeoutMs: cfg.feedGenTimeoutMs, allowInsecure: cfg.allowInsecureHosts })
    this.imageUrl = imageUrlBuilder(cfg.publicUrl)
  }

  static async create(cfg: AppViewConfig, overrides: AppViewOverrides = {}): Promise<AppContext> {
    fs.mkdirSync(cfg.dataDirectory, { recursive: true })
    fs.mkdirSync(cfg.blobCacheDirectory, { recursive: true })
    const db = await openAppViewDb(cfg.dbLocation, { cacheMb: cfg.dbCacheMb, synchronous: cfg.dbSynchronous })
    return new AppContext(cfg, db, overrides)
  }

  start(): void {
    this.subscription?.start()
  }

  async destroy(): Promise<void> {
    this.subscription?.stop()
    this.indexer.close()
    await this.db.close()
  }
}
