import path from 'node:path'
import { ConfigError, envBool, envInt, envList, envStr, type Env } from '@atsuite/common'

/** App view configuration (environment variables prefixed `APPVIEW_`). */
export type AppViewConfig = {
  port: number
  /** interface to bind */
  host: string
  /** where clients and PDSes reach us; image URLs are built on it */
  publicUrl: string
  /** our service DID: the `aud` of service JWTs minted for us (did:web served at /.well-known/did.json) */
  did: string
  dataDirectory: string
  dbLocation: string
  /** image cache (blobs fetched from each account's PDS) */
  blobCacheDirectory: string
  plcUrl: string
  /** the firehose we index: a relay's (or a PDS's) subscribeRepos, ws(s)://host[:port] */
  repoStreamUrl: string | undefined
  /**
   * Where a fresh index starts reading the stream: `oldest` (cursor 0: all the
   * upstream retains) or `live` (from now; accounts are backfilled from their
   * PDS as they appear). A persisted cursor always wins.
   */
  streamStart: 'oldest' | 'live'
  /**
   * Handles under these suffixes cannot resolve through DNS/HTTPS (e.g. `.test` on a local
   * network): they are verified by asking the PDS in the DID document instead.
   */
  pdsVerifiedHandleSuffixes: string[]
  /** allow http:// PDSes, feed generators and DID documents on loopback (local networks, tests) */
  allowInsecureHosts: boolean
  /** concurrent repo fetches for backfill and resync */
  backfillConcurrency: number
  /** events decoded but not yet indexed past which reading from the stream pauses */
  maxPendingEvents: number
  /** records larger than this (bytes of CBOR) are skipped (`too_big`) */
  maxRecordBytes: number
  /** repos larger than this are not fetched for backfill/resync */
  maxRepoBytes: number
  /** blobs larger than this are not fetched for /img */
  maxBlobBytes: number
  /** viewers following more accounts than this get the network-wide timeline plan (see data/feed.ts) */
  timelineHeavyFollows: number
  /** SQLite page cache (MiB) of each reading connection, and the fsync policy (see db/index.ts) */
  dbCacheMb: number
  /** SQLite page cache (MiB) of the indexer's connection, the one writer (see db/index.ts) */
  indexerCacheMb: number
  /** SQLite memory-mapped reads of the database file, MiB (APPVIEW_DB_MMAP_MB; 0 turns it off) */
  dbMmapMb: number
  dbSynchronous: 'normal' | 'off'
  /** how often the checkpoint thread copies the WAL into the database file, ms (see db/index.ts) */
  dbCheckpointMs: number
  /** log length past which a connection copies the log itself after its commit, MiB (see db/index.ts) */
  dbWriterCheckpointMb: number
  /** index on a worker thread (default), leaving this thread to the HTTP server */
  indexerThread: boolean
  /** read and decode the stream on a thread of its own (default), leaving the indexer's thread to apply events */
  streamThread: boolean
  /** how long getFeed waits for a feed generator's getFeedSkeleton (and its DID document) */
  feedGenTimeoutMs: number
  version: string
}

export const readEnv = (): Env => ({ ...process.env })

export const envToConfig = (env: Env): AppViewConfig => {
  const port = envInt(env, 'APPVIEW_PORT') ?? 2584
  const hostname = envStr(env, 'APPVIEW_HOSTNAME') ?? 'localhost'
  const isLocal = hostname === 'localhost' || hostname === '127.0.0.1'
  const dataDirectory = path.resolve(envStr(env, 'APPVIEW_DATA_DIRECTORY') ?? './data/appview')
  const publicUrl = envStr(env, 'APPVIEW_PUBLIC_URL') ?? (isLocal ? `http://localhost:${port}` : `https://${hostname}`)
  const did =
    envStr(env, 'APPVIEW_DID') ?? (isLocal && port !== 0 ? `did:web:localhost%3A${port}` : `did:web:${hostname}`)
  const stream = envStr(env, 'APPVIEW_REPO_STREAM_URL') ?? (isLocal ? 'ws://localhost:2585' : undefined)
  const cfg: AppViewConfig = {
    port,
    host: envStr(env, 'APPVIEW_BIND_HOST') ?? (isLocal ? '127.0.0.1' : '0.0.0.0'),
    publicUrl,
    did,
    dataDirectory,
    dbLocation: envStr(env, 'APPVIEW_DB_LOCATION') ?? path.join(dataDirectory, 'appview.sqlite'),
    blobCacheDirectory: envStr(env, 'APPVIEW_BLOB_CACHE_DIRECTORY') ?? path.join(dataDirectory, 'blobs'),
    plcUrl: envStr(env, 'APPVIEW_PLC_URL') ?? 'http://localhost:2582',
    repoStreamUrl: stream,
    streamStart: envStr(env, 'APPVIEW_STREAM_START') === 'live' ? 'live' : 'oldest',
    pdsVerifiedHandleSuffixes: envList(env, 'APPVIEW_PDS_VERIFIED_HANDLE_SUFFIXES') ?? (isLocal ? ['.test'] : []),
    allowInsecureHosts: envBool(env, 'APPVIEW_ALLOW_INSECURE_HOSTS') ?? isLocal,
    backfillConcurrency: envInt(env, 'APPVIEW_BACKFILL_CONCURRENCY') ?? 8,
    maxPendingEvents: envInt(env, 'APPVIEW_MAX_PENDING_EVENTS') ?? 250_000,
    maxRecordBytes: envInt(env, 'APPVIEW_MAX_RECORD_BYTES') ?? 1_000_000,
    maxRepoBytes: envInt(env, 'APPVIEW_MAX_REPO_BYTES') ?? 512 * 1024 * 1024,
    maxBlobBytes: envInt(env, 'APPVIEW_MAX_BLOB_BYTES') ?? 100 * 1024 * 1024,
    timelineHeavyFollows: envInt(env, 'APPVIEW_TIMELINE_HEAVY_FOLLOWS') ?? 300,
    dbCacheMb: envInt(env, 'APPVIEW_DB_CACHE_MB') ?? 256,
    indexerCacheMb: envInt(env, 'APPVIEW_INDEXER_CACHE_MB') ?? 4096,
    dbMmapMb: envInt(env, 'APPVIEW_DB_MMAP_MB') ?? 16384,
    dbSynchronous: envStr(env, 'APPVIEW_DB_SYNCHRONOUS') === 'off' ? 'off' : 'normal',
    dbCheckpointMs: envInt(env, 'APPVIEW_DB_CHECKPOINT_MS') ?? 2000,
    dbWriterCheckpointMb: envInt(env, 'APPVIEW_DB_WRITER_CHECKPOINT_MB') ?? 1024,
    indexerThread: envBool(env, 'APPVIEW_INDEXER_THREAD') ?? true,
    streamThread: envBool(env, 'APPVIEW_STREAM_THREAD') ?? true,
    feedGenTimeoutMs: envInt(env, 'APPVIEW_FEEDGEN_TIMEOUT_MS') ?? 10_000,
    version: envStr(env, 'APPVIEW_VERSION') ?? '0.1.0',
  }
  validateConfig(cfg, env)
  return cfg
}

const validateConfig = (cfg: AppViewConfig, env: Env): void => {
  if (!cfg.did.startsWith('did:')) throw new ConfigError(`APPVIEW_DID must be a DID, got "${cfg.did}"`)
  if (cfg.repoStreamUrl && !/^wss?:\/\//.test(cfg.repoStreamUrl)) {
    throw new ConfigError(`APPVIEW_REPO_STREAM_URL must be a ws:// or wss:// URL, got "${cfg.repoStreamUrl}"`)
  }
  const sync = envStr(env, 'APPVIEW_DB_SYNCHRONOUS')
  if (sync !== undefined && sync !== 'normal' && sync !== 'off') {
    throw new ConfigError(`APPVIEW_DB_SYNCHRONOUS must be normal or off, got "${sync}"`)
  }
  const start = envStr(env, 'APPVIEW_STREAM_START')
  if (start !== undefined && start !== 'live' && start !== 'oldest') {
    throw new ConfigError(`APPVIEW_STREAM_START must be oldest or live, got "${start}"`)
  }
  for (const s of cfg.pdsVerifiedHandleSuffixes) {
    if (!s.startsWith('.')) throw new ConfigError(`APPVIEW_PDS_VERIFIED_HANDLE_SUFFIXES entries must start with ".": ${s}`)
  }
  if (cfg.dbCacheMb < 1) throw new ConfigError('APPVIEW_DB_CACHE_MB must be at least 1')
  if (cfg.indexerCacheMb < 1) throw new ConfigError('APPVIEW_INDEXER_CACHE_MB must be at least 1')
  if (cfg.dbWriterCheckpointMb < 1) throw new ConfigError('APPVIEW_DB_WRITER_CHECKPOINT_MB must be at least 1')
  if (cfg.backfillConcurrency < 1) throw new ConfigError('APPVIEW_BACKFILL_CONCURRENCY must be at least 1')
  if (cfg.feedGenTimeoutMs < 1) throw new ConfigError('APPVIEW_FEEDGEN_TIMEOUT_MS must be at least 1')
}
