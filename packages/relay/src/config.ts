import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ConfigError, envBool, envInt, envList, envStr, type Env } from '@atsuite/common'

export type SyncMode = 'strict' | 'lenient'

/** Relay configuration (environment variables prefixed `RELAY_`). */
export type RelayConfig = {
  port: number
  /** interface to bind */
  host: string
  /** the event log (`events.sqlite`), the state DB (`relay.sqlite`) and dev secrets live here */
  dataDirectory: string
  plcUrl: string
  adminPassword: string
  syncMode: SyncMode
  /** how long the merged log keeps events for cursor replay */
  retentionMs: number
  /** per downstream subscriber: socket buffer past which it gets ConsumerTooSlow */
  maxBufferBytes: number
  /** default events/s per upstream host (token bucket; slows the host down, never drops) */
  hostRateLimit: number
  /** upstream frames larger than this are dropped (`too_big`) */
  maxFrameBytes: number
  /** hosts to crawl at start (hostnames or URLs) */
  initialHosts: string[]
  /** allow `localhost`/loopback hosts over plain http/ws (local networks and tests) */
  allowInsecureHosts: boolean
  /** cap of the reconnect backoff; reconnects never stop */
  backoffMaxMs: number
  /** revs further than this in the future are dropped (`rev_in_future`) */
  futureRevToleranceMs: number
  /** worker threads verifying commits (CAR, signature, inversion); 0 = on the main thread */
  verifyThreads: number
  /** identity cache: entries older than this are refreshed in the background */
  identityTtlMs: number
  version: string
}

export const readEnv = (): Env => ({ ...process.env })

const DEV_SECRETS_FILE = 'dev-secrets.json'

export const envToConfig = (env: Env): RelayConfig => {
  const dataDirectory = path.resolve(envStr(env, 'RELAY_DATA_DIRECTORY') ?? './data/relay')
  const host = envStr(env, 'RELAY_HOST') ?? '127.0.0.1'
  const syncMode = envStr(env, 'RELAY_SYNC_MODE') ?? 'strict'
  if (syncMode !== 'strict' && syncMode !== 'lenient') {
    throw new ConfigError(`RELAY_SYNC_MODE must be strict or lenient, got "${syncMode}"`)
  }
  const isLocal = host === '127.0.0.1' || host === 'localhost' || host === '::1'
  const cfg: RelayConfig = {
    port: envInt(env, 'RELAY_PORT') ?? 2585,
    host,
    dataDirectory,
    plcUrl: envStr(env, 'RELAY_PLC_URL') ?? 'http://localhost:2582',
    adminPassword: envStr(env, 'RELAY_ADMIN_PASSWORD') ?? '',
    syncMode,
    retentionMs: (envInt(env, 'RELAY_RETENTION_HOURS') ?? 72) * 60 * 60 * 1000,
    maxBufferBytes: envInt(env, 'RELAY_MAX_BUFFER_BYTES') ?? 16 * 1024 * 1024,
    hostRateLimit: envInt(env, 'RELAY_HOST_RATE_LIMIT') ?? 5000,
    maxFrameBytes: envInt(env, 'RELAY_MAX_FRAME_BYTES') ?? 5_000_000,
    initialHosts: envList(env, 'RELAY_CRAWL_HOSTS') ?? [],
    allowInsecureHosts: envBool(env, 'RELAY_ALLOW_INSECURE_HOSTS') ?? isLocal,
    backoffMaxMs: envInt(env, 'RELAY_BACKOFF_MAX_MS') ?? 60_000,
    futureRevToleranceMs: envInt(env, 'RELAY_FUTURE_REV_TOLERANCE_MS') ?? 5 * 60 * 1000,
    verifyThreads: envInt(env, 'RELAY_VERIFY_THREADS') ?? Math.min(8, Math.max(1, os.availableParallelism() - 1)),
    identityTtlMs: envInt(env, 'RELAY_IDENTITY_TTL_MS') ?? 60 * 60 * 1000,
    version: envStr(env, 'RELAY_VERSION') ?? '0.1.0',
  }
  if (!cfg.adminPassword) cfg.adminPassword = devAdminPassword(dataDirectory, isLocal)
  validateConfig(cfg)
  return cfg
}

/**
 * Without RELAY_ADMIN_PASSWORD a local relay generates one and keeps it in
 * `<data>/dev-secrets.json` (as the PDS does); a public one refuses to start.
 */
const devAdminPassword = (dataDirectory: string, isLocal: boolean): string => {
  if (!isLocal) throw new ConfigError('RELAY_ADMIN_PASSWORD is required when the relay binds a public interface')
  fs.mkdirSync(dataDirectory, { recursive: true })
  const file = path.join(dataDirectory, DEV_SECRETS_FILE)
  let stored: { adminPassword?: string } = {}
  if (fs.existsSync(file)) stored = JSON.parse(fs.readFileSync(file, 'utf8'))
  if (stored.adminPassword) return stored.adminPassword
  const adminPassword = randomBytes(16).toString('hex')
  fs.writeFileSync(file, JSON.stringify({ ...stored, adminPassword }, null, 2), { mode: 0o600 })
  return adminPassword
}

export const validateConfig = (cfg: RelayConfig): void => {
  const positive: (keyof RelayConfig)[] = ['maxBufferBytes', 'hostRateLimit', 'maxFrameBytes', 'backoffMaxMs', 'retentionMs']
  for (const k of positive) {
    const v = cfg[k]
    if (typeof v !== 'number' || !(v > 0)) throw new ConfigError(`relay config ${k} must be a positive number, got ${String(v)}`)
  }
  if (!Number.isInteger(cfg.verifyThreads) || cfg.verifyThreads < 0 || cfg.verifyThreads > 64) {
    throw new ConfigError(`RELAY_VERIFY_THREADS must be 0..64, got ${cfg.verifyThreads}`)
  }
  if (!Number.isInteger(cfg.port) || cfg.port < 0 || cfg.port > 65535) throw new ConfigError(`RELAY_PORT out of range: ${cfg.port}`)
}
