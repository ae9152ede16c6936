import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { isValidDid, isValidUri, type DidString, type UriString } from '@atproto/syntax'
import { ConfigError, envBool, envInt, envList, envStr, type Env } from '@atsuite/common'

/**
 * PDS configuration, read from the same environment variables as the reference
 * PDS where the concept matches, so an operator's `pds.env` keeps working.
 */
export type PdsConfig = {
  service: {
    hostname: string
    port: number
    host: string // interface to bind
    publicUrl: string
    did: DidString
    version: string
    devMode: boolean
  }
  dataDirectory: string
  accountDbLocation: string
  actorStoreDirectory: string
  /** open actor stores kept in the LRU (stores in use are never closed, so it may run over) */
  actorStoreCacheSize: number
  /** how often written actor stores are checkpointed by a thread of their own, ms (`PDS_ACTOR_STORE_CHECKPOINT_MS`; 0, the default: each store's writer checkpoints itself) */
  actorStoreCheckpointMs: number
  blobstoreLocation: string
  blobUploadLimit: number
  /** importRepo: the largest CAR accepted (`PDS_IMPORT_REPO_LIMIT`, bytes) */
  importRepoLimit: number
  blobTempGraceMs: number
  identity: {
    plcUrl: string
    serviceHandleDomains: string[]
  }
  invites: { required: boolean; interval?: number }
  email: { smtpUrl?: string; fromAddress: string; mailDirectory: string }
  links: { privacyPolicy?: UriString; termsOfService?: UriString }
  contactEmail?: string
  crawlers: string[]
  /**
   * The app view app.bsky.* calls are forwarded to (`PDS_BSKY_APP_VIEW_URL`,
   * `PDS_BSKY_APP_VIEW_DID`); locally it defaults to the dev network's
   * (localhost:2584), elsewhere there is none unless configured.
   */
  bskyAppView?: { url: string; did: DidString }
  proxy: {
    /** how long an upstream may take to answer with its status and headers */
    headersTimeoutMs: number
    /** upstream endpoints from DID documents may be http:// or on loopback (dev mode only) */
    allowInsecure: boolean
  }
  firehose: { dbLocation: string; retentionMs: number; maxBufferBytes: number }
  writeLimits: { maxApplyWrites: number }
  rateLimits: {
    /** PDS_RATE_LIMITS_ENABLED; default on outside dev mode */
    enabled: boolean
    /** PDS_RATE_LIMIT_BYPASS_KEY: requests with `x-ratelimit-bypass: <key>` (a trusted front-end) are not limited */
    bypassKey?: string
    /** PDS_RATE_LIMIT_BYPASS_IPS */
    bypassIps: string[]
    /** PDS_RATE_LIMIT_OVERRIDES: JSON `{name: [{durationMs, points}, ...]}` replacing a limit's windows */
    overrides: Record<string, { durationMs: number; points: number }[]>
  }
  /**
   * PDS_TRUST_PROXY: which proxies' X-Forwarded-For names the client (Express's
   * `trust proxy`: `true`, a hop count, or addresses/subnets/`loopback`...);
   * default: proxies on loopback and private networks, as the reference PDS;
   * `false`: always the socket's address
   */
  trustProxy: boolean | number | string[]
  /**
   * PDS_DIRECT_ROUTES (default true): the record writes are answered from the
   * HTTP server without express (api/raw-json.ts `DIRECT_METHODS`); `false`
   * sends them through express like every other method
   */
  directRoutes: boolean
  oauth: {
    /** PDS_OAUTH_PROVIDER_NAME: the name the sign-in pages show (default: the hostname) */
    serviceName: string
    /** PDS_OAUTH_TRUSTED_CLIENTS: client_ids whose sign-in skips the consent screen once approved (the operator's own apps) */
    trustedClients: string[]
  }
}

export type PdsSecrets = {
  jwtSecret: string
  adminPassword: string
  plcRotationKeyHex: string
  /** PDS_DPOP_SECRET (64 hex): seeds the rotating DPoP nonces; derived from the JWT secret when unset */
  dpopSecret?: string
}

export const readEnv = (): Env => ({ ...process.env })

const DEV_SECRETS_FILE = 'dev-secrets.json'

const envUri = (env: Env, name: string): UriString | undefined => {
  const v = envStr(env, name)
  if (v !== undefined && !isValidUri(v)) throw new ConfigError(`${name} is not a URI: ${v}`)
  return v
}

/**
 * The configured app view: both variables or neither (then the local default,
 * or none); `PDS_BSKY_APP_VIEW_URL=none` turns forwarding off explicitly.
 */
const bskyAppView = (env: Env, isLocal: boolean): PdsConfig['bskyAppView'] => {
  const url = envStr(env, 'PDS_BSKY_APP_VIEW_URL')
  const did = envStr(env, 'PDS_BSKY_APP_VIEW_DID')
  if (url === 'none') return undefined
  if (url === undefined && did === undefined) {
    return isLocal ? { url: 'http://localhost:2584', did: 'did:web:localhost%3A2584' } : undefined
  }
  if (url === undefined || did === undefined) {
    throw new ConfigError('PDS_BSKY_APP_VIEW_URL and PDS_BSKY_APP_VIEW_DID go together: set both or neither')
  }
  if (!/^https?:\/\//.test(url) || !isValidUri(url)) throw new ConfigError(`PDS_BSKY_APP_VIEW_URL is not an http(s) URL: ${url}`)
  if (!isValidDid(did)) throw new ConfigError(`PDS_BSKY_APP_VIEW_DID is not a DID: ${did}`)
  return { url, did }
}

const actorStoreCacheSize = (env: Env): number => {
  const n = envInt(env, 'PDS_ACTOR_STORE_CACHE_SIZE') ?? 500
  if (n < 1) throw new ConfigError(`PDS_ACTOR_STORE_CACHE_SIZE must be at least 1: ${n}`)
  return n
}

const actorStoreCheckpointMs = (env: Env): number => {
  const n = envInt(env, 'PDS_ACTOR_STORE_CHECKPOINT_MS') ?? 0
  if (n < 0) throw new ConfigError(`PDS_ACTOR_STORE_CHECKPOINT_MS must not be negative: ${n}`)
  return n
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * PDS_PUBLIC_URL is the OAuth issuer too, so it follows the issuer's rules
 * (checked here at start: the OAuth provider itself loads at its first use):
 * an origin only (no path, query, fragment, credentials or trailing slash),
 * https, or http on a loopback host.
 */
const checkPublicUrl = (value: string): void => {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError(`PDS_PUBLIC_URL is not a URL: ${value}`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`PDS_PUBLIC_URL must be an http(s) URL: ${value}`)
  if (value !== url.origin) {
    throw new ConfigError(`PDS_PUBLIC_URL must be an origin alone, as ${url.origin} (no path, trailing slash, query or credentials): ${value}`)
  }
  const loopback = LOOPBACK_HOSTS.has(url.hostname)
  if (url.protocol === 'http:' && !loopback) throw new ConfigError(`PDS_PUBLIC_URL must be https outside a loopback host: ${value}`)
  if (url.protocol === 'https:' && loopback) throw new ConfigError(`PDS_PUBLIC_URL on a loopback host must be http: ${value}`)
}

export const envToConfig = (env: Env): PdsConfig => {
  const hostname = envStr(env, 'PDS_HOSTNAME') ?? 'localhost'
  const port = envInt(env, 'PDS_PORT') ?? 2583
  const isLocal = hostname === 'localhost' || hostname === '127.0.0.1'
  const publicUrl =
    envStr(env, 'PDS_PUBLIC_URL') ??
    (isLocal ? `http://localhost:${port}` : `https://${hostname}`)
  checkPublicUrl(publicUrl)
  const did =
    envStr(env, 'PDS_SERVICE_DID') ??
    (isLocal && port !== 0 ? `did:web:localhost%3A${port}` : `did:web:${hostname}`)
  if (!isValidDid(did)) throw new ConfigError(`PDS_SERVICE_DID is not a DID: ${did}`)
  const dataDirectory = path.resolve(envStr(env, 'PDS_DATA_DIRECTORY') ?? './data/pds')
  const devMode = envBool(env, 'PDS_DEV_MODE') ?? isLocal
  const handleDomains = envList(env, 'PDS_SERVICE_HANDLE_DOMAINS') ?? (isLocal ? ['.test'] : [`.${hostname}`])
  for (const d of handleDomains) {
    if (!d.startsWith('.')) throw new ConfigError(`PDS_SERVICE_HANDLE_DOMAINS entries must start with ".": ${d}`)
  }
  return {
    service: {
      hostname,
      port,
      host: envStr(env, 'PDS_BIND_HOST') ?? (isLocal ? '127.0.0.1' : '0.0.0.0'),
      publicUrl,
      did,
      version: envStr(env, 'PDS_VERSION') ?? '0.1.0',
      devMode,
    },
    dataDirectory,
    accountDbLocation: envStr(env, 'PDS_ACCOUNT_DB_LOCATION') ?? path.join(dataDirectory, 'account.sqlite'),
    actorStoreDirectory: envStr(env, 'PDS_ACTOR_STORE_DIRECTORY') ?? path.join(dataDirectory, 'actors'),
    actorStoreCacheSize: actorStoreCacheSize(env),
    actorStoreCheckpointMs: actorStoreCheckpointMs(env),
    blobstoreLocation: envStr(env, 'PDS_BLOBSTORE_DISK_LOCATION') ?? path.join(dataDirectory, 'blocks'),
    blobUploadLimit: envInt(env, 'PDS_BLOB_UPLOAD_LIMIT') ?? 100 * 1024 * 1024,
    importRepoLimit: envInt(env, 'PDS_IMPORT_REPO_LIMIT') ?? 1024 * 1024 * 1024,
    blobTempGraceMs: envInt(env, 'PDS_BLOB_TEMP_GRACE_MS') ?? 60 * 60 * 1000,
    identity: {
      plcUrl: envStr(env, 'PDS_DID_PLC_URL') ?? 'http://localhost:2582',
      serviceHandleDomains: handleDomains,
    },
    invites: {
      required: envBool(env, 'PDS_INVITE_REQUIRED') ?? false,
      interval: envInt(env, 'PDS_INVITE_INTERVAL'),
    },
    email: {
      smtpUrl: envStr(env, 'PDS_EMAIL_SMTP_URL'),
      fromAddress: envStr(env, 'PDS_EMAIL_FROM_ADDRESS') ?? `noreply@${hostname}`,
      mailDirectory: path.join(dataDirectory, 'mail'),
    },
    links: {
      privacyPolicy: envUri(env, 'PDS_PRIVACY_POLICY_URL'),
      termsOfService: envUri(env, 'PDS_TERMS_OF_SERVICE_URL'),
    },
    contactEmail: envStr(env, 'PDS_CONTACT_EMAIL_ADDRESS'),
    crawlers: envList(env, 'PDS_CRAWLERS') ?? [],
    bskyAppView: bskyAppView(env, isLocal),
    proxy: {
      headersTimeoutMs: envInt(env, 'PDS_PROXY_HEADERS_TIMEOUT') ?? 10_000,
      allowInsecure: devMode,
    },
    firehose: {
      dbLocation: envStr(env, 'PDS_SEQUENCER_DB_LOCATION') ?? path.join(dataDirectory, 'sequencer.sqlite'),
      retentionMs: (envInt(env, 'PDS_FIREHOSE_RETENTION_HOURS') ?? 72) * 60 * 60 * 1000,
      maxBufferBytes: envInt(env, 'PDS_FIREHOSE_MAX_BUFFER_BYTES') ?? 16 * 1024 * 1024,
    },
    writeLimits: { maxApplyWrites: 200 },
    rateLimits: {
      enabled: envBool(env, 'PDS_RATE_LIMITS_ENABLED') ?? !devMode,
      bypassKey: envStr(env, 'PDS_RATE_LIMIT_BYPASS_KEY'),
      bypassIps: envList(env, 'PDS_RATE_LIMIT_BYPASS_IPS') ?? [],
      overrides: rateLimitOverrides(envStr(env, 'PDS_RATE_LIMIT_OVERRIDES')),
    },
    trustProxy: trustProxy(envStr(env, 'PDS_TRUST_PROXY')),
    directRoutes: envBool(env, 'PDS_DIRECT_ROUTES') ?? true,
    oauth: {
      serviceName: envStr(env, 'PDS_OAUTH_PROVIDER_NAME') ?? hostname,
      trustedClients: envList(env, 'PDS_OAUTH_TRUSTED_CLIENTS') ?? [],
    },
  }
}

const rateLimitOverrides = (raw: string | undefined): PdsConfig['rateLimits']['overrides'] => {
  if (!raw) return {}
  let v: unknown
  try {
    v = JSON.parse(raw)
  } catch {
    throw new ConfigError('PDS_RATE_LIMIT_OVERRIDES must be JSON: {"create-session": [{"durationMs": 300000, "points": 30}]}')
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError('PDS_RATE_LIMIT_OVERRIDES must be a JSON object')
  const out: PdsConfig['rateLimits']['overrides'] = {}
  for (const [name, windows] of Object.entries(v)) {
    const ok =
      Array.isArray(windows) &&
      windows.every((w) => w && Number.isSafeInteger(w.durationMs) && w.durationMs > 0 && Number.isSafeInteger(w.points) && w.points > 0)
    if (!ok) throw new ConfigError(`PDS_RATE_LIMIT_OVERRIDES.${name} must be a list of {durationMs, points} with positive integers`)
    out[name] = (windows as { durationMs: number; points: number }[]).map((w) => ({ durationMs: w.durationMs, points: w.points }))
  }
  return out
}

/** Proxies on the machine or a private network (a local Caddy/nginx, a load balancer), as the reference PDS trusts them. */
const PRIVATE_PROXIES = ['loopback', 'linklocal', 'uniquelocal']

const trustProxy = (raw: string | undefined): PdsConfig['trustProxy'] => {
  if (raw === undefined || raw === '') return PRIVATE_PROXIES
  if (raw === 'false') return false
  if (raw === 'true') return true
  if (/^\d+$/.test(raw)) return Number(raw)
  return raw.split(',').map((s) => s.trim()).filter(Boolean)
}

/**
 * Secrets come from the environment. In dev mode any that are missing are
 * generated once and kept in `<data>/dev-secrets.json` so restarts keep
 * sessions and the PLC rotation key; outside dev mode they are required.
 */
export const envToSecrets = (env: Env, cfg: PdsConfig): PdsSecrets => {
  const fromEnv = {
    jwtSecret: envStr(env, 'PDS_JWT_SECRET'),
    adminPassword: envStr(env, 'PDS_ADMIN_PASSWORD'),
    plcRotationKeyHex: envStr(env, 'PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX'),
  }
  const dpopSecret = envStr(env, 'PDS_DPOP_SECRET')
  if (dpopSecret !== undefined && !/^[0-9a-f]{64}$/i.test(dpopSecret)) throw new ConfigError('PDS_DPOP_SECRET must be 64 hex characters')
  const missing = Object.entries(fromEnv).filter(([, v]) => v === undefined)
  if (missing.length === 0) return { ...(fromEnv as PdsSecrets), dpopSecret }
  if (!cfg.service.devMode) {
    throw new ConfigError(
      'missing secrets: PDS_JWT_SECRET, PDS_ADMIN_PASSWORD and PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX are required outside dev mode',
    )
  }
  fs.mkdirSync(cfg.dataDirectory, { recursive: true })
  const file = path.join(cfg.dataDirectory, DEV_SECRETS_FILE)
  let stored: Partial<PdsSecrets> = {}
  if (fs.existsSync(file)) stored = JSON.parse(fs.readFileSync(file, 'utf8'))
  const secrets: PdsSecrets = {
    jwtSecret: fromEnv.jwtSecret ?? stored.jwtSecret ?? randomBytes(32).toString('hex'),
    adminPassword: fromEnv.adminPassword ?? stored.adminPassword ?? randomBytes(16).toString('hex'),
    plcRotationKeyHex: fromEnv.plcRotationKeyHex ?? stored.plcRotationKeyHex ?? randomBytes(32).toString('hex'),
  }
  fs.writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 })
  return { ...secrets, dpopSecret }
}
