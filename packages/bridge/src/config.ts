import path from 'node:path'
import { ConfigError, envBool, envInt, envList, envStr, type Env } from '@atsuite/common'

/** Bridge configuration (environment variables prefixed `BRIDGE_`). */
export type BridgeConfig = {
  port: number
  /** interface to bind */
  host: string
  /** where the fediverse reaches us: actor, inbox and object URLs are built on it; WebFinger's domain is its host */
  publicUrl: string
  dataDirectory: string
  dbLocation: string
  /** the firehose our users' posts come from (a relay's subscribeRepos) */
  repoStreamUrl: string
  plcUrl: string
  /** the PDS that hosts the bridge's own account and the accounts mirroring fediverse actors */
  pdsUrl: string
  /** the bridge's own account on that PDS: following it turns bridging on */
  account: { handle: string; email: string; password: string }
  /** handles of mirrored fediverse actors end in this (one of the PDS's service domains) */
  handleDomain: string
  /** an invite code for creating those accounts, when the PDS requires invites */
  inviteCode?: string
  /** instances (host names) whose activities are refused and which get nothing from us */
  blockedInstances: string[]
  /** inbound activities per instance per minute */
  instanceRateLimit: number
  /** the largest inbound activity body accepted, bytes */
  maxActivityBytes: number
  /** fediverse peers on loopback/private addresses and http:// (local networks, tests) */
  allowPrivateAddress: boolean
  /** deliveries made at once */
  queueWorkers: number
  /** inbound activities processed at once (their own queue: a big fan-out does not hold them back) */
  inboxWorkers: number
  /** deliveries: give up on one after `giveUpMs`, then treat its instance as dead (a probe every `deadProbeMs`) */
  delivery: { giveUpMs: number; maxDelayMs: number; deadProbeMs: number; rememberMs: number }
  /** where a fresh bridge starts reading the firehose: `live` (now) or `oldest` */
  streamStart: 'oldest' | 'live'
  version: string
}

export const readEnv = (): Env => ({ ...process.env })

export const envToConfig = (env: Env): BridgeConfig => {
  const port = envInt(env, 'BRIDGE_PORT') ?? 2586
  const hostname = envStr(env, 'BRIDGE_HOSTNAME') ?? 'localhost'
  const isLocal = hostname === 'localhost' || hostname === '127.0.0.1'
  const dataDirectory = path.resolve(envStr(env, 'BRIDGE_DATA_DIRECTORY') ?? './data/bridge')
  const publicUrl = envStr(env, 'BRIDGE_PUBLIC_URL') ?? (isLocal ? `http://localhost:${port}` : `https://${hostname}`)
  const handleDomain = envStr(env, 'BRIDGE_HANDLE_DOMAIN') ?? (isLocal ? '.test' : `.${hostname}`)
  if (!handleDomain.startsWith('.')) throw new ConfigError(`BRIDGE_HANDLE_DOMAIN must start with ".": ${handleDomain}`)
  const password = envStr(env, 'BRIDGE_ACCOUNT_PASSWORD') ?? (isLocal ? 'bridge-local-password' : undefined)
  if (!password) throw new ConfigError('BRIDGE_ACCOUNT_PASSWORD is required outside a local network')
  return {
    port,
    host: envStr(env, 'BRIDGE_BIND_HOST') ?? (isLocal ? '127.0.0.1' : '0.0.0.0'),
    publicUrl,
    dataDirectory,
    dbLocation: envStr(env, 'BRIDGE_DB_LOCATION') ?? path.join(dataDirectory, 'bridge.sqlite'),
    repoStreamUrl: envStr(env, 'BRIDGE_REPO_STREAM_URL') ?? 'ws://localhost:2585',
    plcUrl: envStr(env, 'BRIDGE_PLC_URL') ?? 'http://localhost:2582',
    pdsUrl: envStr(env, 'BRIDGE_PDS_URL') ?? 'http://localhost:2583',
    account: {
      handle: envStr(env, 'BRIDGE_ACCOUNT_HANDLE') ?? `bridge${handleDomain}`,
      email: envStr(env, 'BRIDGE_ACCOUNT_EMAIL') ?? (isLocal ? 'bridge@bridge.invalid' : `bridge@${hostname}`),
      password,
    },
    handleDomain,
    inviteCode: envStr(env, 'BRIDGE_INVITE_CODE'),
    blockedInstances: (envList(env, 'BRIDGE_BLOCKED_INSTANCES') ?? []).map((h) => h.toLowerCase()),
    instanceRateLimit: envInt(env, 'BRIDGE_INSTANCE_RATE_LIMIT') ?? 600,
    maxActivityBytes: envInt(env, 'BRIDGE_MAX_ACTIVITY_BYTES') ?? 256 * 1024,
    allowPrivateAddress: envBool(env, 'BRIDGE_ALLOW_PRIVATE_ADDRESS') ?? isLocal,
    queueWorkers: envInt(env, 'BRIDGE_QUEUE_WORKERS') ?? 8,
    inboxWorkers: envInt(env, 'BRIDGE_INBOX_WORKERS') ?? 4,
    delivery: {
      giveUpMs: (envInt(env, 'BRIDGE_DELIVERY_GIVE_UP_SECONDS') ?? 2 * 24 * 3600) * 1000,
      maxDelayMs: (envInt(env, 'BRIDGE_DELIVERY_MAX_DELAY_SECONDS') ?? 6 * 3600) * 1000,
      deadProbeMs: (envInt(env, 'BRIDGE_DEAD_INSTANCE_PROBE_SECONDS') ?? 12 * 3600) * 1000,
      rememberMs: 7 * 24 * 3600 * 1000,
    },
    streamStart: envStr(env, 'BRIDGE_STREAM_START') === 'oldest' ? 'oldest' : 'live',
    version: '0.1.0',
  }
}
