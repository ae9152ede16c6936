// The reference PDS (@atproto/pds from npm), installed once into a cache
// directory outside the repo and started as its own process through
// reference-runner.ts.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { nodeBinary } from './process.ts'

export const REFERENCE_VERSION = '0.5.35'

const here = path.dirname(fileURLToPath(import.meta.url))
export const repoRoot = path.resolve(here, '../../..')
export const runnerScript = path.join(here, 'reference-runner.ts')

export const referenceCacheDir = (): string =>
  process.env.ATSUITE_BENCH_CACHE ?? path.join(os.homedir(), '.cache', 'atsuite-bench', 'reference-pds')

/** Written last by a successful install; names what it was built for. */
const MARKER = 'installed.json'

type Marker = { version: string; node: string; betterSqlite3: string }

/**
 * The reference asks for better-sqlite3 ^12. On Node >= 24.19 every 12.x build
 * aborts the process when V8 collects a Statement outside a JS context
 * ("Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook, from
 * Statement::~Statement) — under load that is within seconds. 13.x (an N-API
 * build with the same JS API) does not, so the cache install overrides it to
 * the version this project uses: both servers then run the same SQLite.
 */
const betterSqlite3Version = (): string => {
  const pkg = path.join(repoRoot, 'node_modules', 'better-sqlite3', 'package.json')
  return (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version
}

const wantedMarker = (): Marker => ({
  version: REFERENCE_VERSION,
  node: process.versions.modules,
  betterSqlite3: betterSqlite3Version(),
})

const isInstalled = (dir: string): boolean => {
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(dir, MARKER), 'utf8')) as Marker
    const wanted = wantedMarker()
    return (Object.keys(wanted) as (keyof Marker)[]).every((k) => marker[k] === wanted[k])
  } catch {
    return false
  }
}

/**
 * Installs @atproto/pds@REFERENCE_VERSION into `dir` unless a previous
 * install for this Node ABI is there. npm runs with the project's Node first
 * on PATH and `nodedir` pointing at its headers, so any addon built from
 * source loads under the Node that runs the server.
 */
export const ensureReferenceInstalled = (dir = referenceCacheDir()): string => {
  if (isInstalled(dir)) return dir
  const marker = wantedMarker()
  fs.mkdirSync(dir, { recursive: true })
  fs.rmSync(path.join(dir, MARKER), { force: true })
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify(
      {
        name: 'atsuite-bench-reference-pds',
        private: true,
        type: 'module',
        dependencies: { '@atproto/pds': REFERENCE_VERSION },
        overrides: { 'better-sqlite3': marker.betterSqlite3 },
      },
      null,
      2,
    ) + '\n',
  )
  const nodeBinDir = path.dirname(nodeBinary())
  const nodeDir = path.dirname(nodeBinDir)
  const env: Record<string, string | undefined> = {
    ...process.env,
    PATH: [path.join(repoRoot, 'node_modules', '.bin'), nodeBinDir, process.env.PATH].join(path.delimiter),
  }
  if (fs.existsSync(path.join(nodeDir, 'include', 'node'))) env.npm_config_nodedir = nodeDir
  console.log(`installing @atproto/pds@${REFERENCE_VERSION} into ${dir} (once; takes a minute or two)…`)
  const started = Date.now()
  const res = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: dir,
    env,
    stdio: 'inherit',
  })
  if (res.status !== 0) throw new Error(`npm install of @atproto/pds@${REFERENCE_VERSION} failed (${res.status ?? res.signal})`)
  checkSqliteLoads(dir, marker.betterSqlite3)
  fs.writeFileSync(path.join(dir, MARKER), JSON.stringify(marker) + '\n')
  console.log(`installed in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  return dir
}

/** Opens an in-memory database with the better-sqlite3 the reference will use, under our Node, and checks its version. */
const checkSqliteLoads = (dir: string, version: string): void => {
  const probe = `
    const { createRequire } = require('node:module')
    const pdsReq = createRequire(require.resolve('@atproto/pds/package.json', { paths: [${JSON.stringify(dir)}] }))
    const Database = pdsReq('better-sqlite3')
    new Database(':memory:').close()
    const v = pdsReq('better-sqlite3/package.json').version
    if (v !== ${JSON.stringify(version)}) throw new Error('better-sqlite3 ' + v + ' resolved, expected ${version}')
  `
  const res = spawnSync(nodeBinary(), ['-e', probe], { cwd: dir, encoding: 'utf8' })
  if (res.status !== 0) {
    throw new Error(`better-sqlite3 in ${dir} does not load on Node ${process.versions.node}:\n${res.stderr}`)
  }
}

export type ReferenceSettings = {
  cacheDir: string
  port: number
  dataDirectory: string
  plcUrl: string
  secrets: { jwtSecret: string; adminPassword: string; plcRotationKeyHex: string; dpopSecret: string }
}

/** The environment documented in REFERENCE-PDS.md, for one reference PDS on loopback. */
export const referenceEnv = (s: ReferenceSettings): Record<string, string> => ({
  ATSUITE_BENCH_REFERENCE_DIR: s.cacheDir,
  PDS_HOSTNAME: 'localhost',
  PDS_PORT: String(s.port),
  PDS_DATA_DIRECTORY: s.dataDirectory,
  PDS_BLOBSTORE_DISK_LOCATION: path.join(s.dataDirectory, 'blobs'),
  PDS_JWT_SECRET: s.secrets.jwtSecret,
  PDS_ADMIN_PASSWORD: s.secrets.adminPassword,
  PDS_DPOP_SECRET: s.secrets.dpopSecret,
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: s.secrets.plcRotationKeyHex,
  PDS_DID_PLC_URL: s.plcUrl,
  PDS_DEV_MODE: 'true',
  PDS_INVITE_REQUIRED: 'false',
  PDS_RATE_LIMITS_ENABLED: 'false',
  PDS_SERVICE_HANDLE_DOMAINS: '.test',
  // a closed loopback port: nothing the benchmark does should reach an app view, and nothing may leave the machine
  PDS_BSKY_APP_VIEW_URL: 'http://127.0.0.1:1',
  PDS_BSKY_APP_VIEW_DID: 'did:example:invalid',
  LOG_ENABLED: 'false',
})

/**
 * The newest email token of `purpose` (e.g. `plc_operation`) the reference
 * issued to `did`, read from its account database in `dataDirectory`: it
 * mails through nodemailer with no transport to read back here.
 */
export const referenceEmailToken = (dataDirectory: string, did: string, purpose: string): string => {
  const db = new Database(path.join(dataDirectory, 'account.sqlite'), { readonly: true })
  try {
    const row = db.prepare('SELECT token FROM email_token WHERE purpose = ? AND did = ?').get(purpose, did) as { token: string } | undefined
    if (!row) throw new Error(`no ${purpose} token for ${did} in the reference's database`)
    return row.token
  } finally {
    db.close()
  }
}
