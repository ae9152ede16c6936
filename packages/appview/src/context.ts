import fs from 'node:fs'
import type { DidString } from '@atproto/syntax'
import { WalCheckpointer } from '@atsuite/common'
import type { AppViewConfig } from './config.ts'
import { dbOptions, openAppViewDb, type AppViewDb } from './db/index.ts'
import { AuthVerifier } from './auth/auth-verifier.ts'
import type { CountersJson } from './indexer/counters.ts'
import { NetworkIdentity, type IdentityService } from './indexer/identity.ts'
import { createIndexerService, type IndexerService } from './indexer/service.ts'
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
  /** indexing (on its own thread unless APPVIEW_INDEXER_THREAD=false): status, progress events */
  readonly indexer: IndexerService
  readonly auth: AuthVerifier
  readonly blobs: BlobCache
  readonly feedGens: FeedGenClient
  readonly imageUrl: (preset: ImagePreset, did: DidString, cid: string) => ImageUrl
  /** copies the database's WAL into its file on a thread of its own (not for an in-memory database) */
  readonly checkpointer: WalCheckpointer | null

  private constructor(cfg: AppViewConfig, db: AppViewDb, identity: IdentityService, indexer: IndexerService) {
    this.cfg = cfg
    this.db = db
    this.checkpointer = WalCheckpointer.forFile(cfg.dbLocation, { intervalMs: cfg.dbCheckpointMs, synchronous: cfg.dbSynchronous })
    this.identity = identity
    this.indexer = indexer
    this.auth = new AuthVerifier(cfg.did, this.identity)
    this.blobs = new BlobCache({ dir: cfg.blobCacheDirectory, maxBytes: cfg.maxBlobBytes, allowInsecure: cfg.allowInsecureHosts })
    this.feedGens = new FeedGenClient({ identity: this.identity, timeoutMs: cfg.feedGenTimeoutMs, allowInsecure: cfg.allowInsecureHosts })
    this.imageUrl = imageUrlBuilder(cfg.publicUrl)
  }

  static async create(cfg: AppViewConfig, overrides: AppViewOverrides = {}): Promise<AppContext> {
    fs.mkdirSync(cfg.dataDirectory, { recursive: true })
    fs.mkdirSync(cfg.blobCacheDirectory, { recursive: true })
    const db = await openAppViewDb(cfg.dbLocation, dbOptions(cfg, 'reader'))
    const identity = overrides.identity ?? new NetworkIdentity({ plcUrl: cfg.plcUrl, pdsVerifiedSuffixes: cfg.pdsVerifiedHandleSuffixes })
    return new AppContext(cfg, db, identity, await createIndexerService(cfg, identity))
  }

  /** What indexing has counted (skips and activity), as of its last report. */
  get counters(): { toJSON(): CountersJson } {
    const status = this.indexer.status
    return { toJSON: () => status.counters }
  }

  async start(): Promise<void> {
    await this.indexer.start()
  }

  async destroy(): Promise<void> {
    await this.indexer.close()
    await this.checkpointer?.close()
    await this.db.close()
  }
}
