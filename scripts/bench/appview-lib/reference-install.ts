// The reference app view (@atproto/bsky, run inside @atproto/dev-env's
// TestNetwork) installed once into a cache directory outside the repo, and
// a PostgreSQL for it (Debian's `postgresql`, initialised and started as the
// `postgres` user — initdb refuses root — in a directory of the run).
//
//   node scripts/bench/appview-lib/reference-install.ts   # install only
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { repoRoot } from '../relay-lib/proc.ts'

export const REFERENCE_PACKAGES = { '@atproto/dev-env': '0.6.7', '@atproto/bsky': '0.0.280', '@atproto/api': '0.20.44' }

export const referenceAppviewDir = (): string =>
  process.env.ATSUITE_BENCH_APPVIEW_CACHE ?? path.join(os.homedir(), '.cache', 'atsuite-bench', 'reference-appview')

const MARKER = 'installed.json'

/** better-sqlite3 as the repo uses it: 12.x aborts on Node >= 24.19 (see lib/reference.ts). */
const betterSqlite3Version = (): string =>
  (JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules/better-sqlite3/package.json'), 'utf8')) as { version: string }).version

const wanted = () => ({ packages: REFERENCE_PACKAGES, node: process.versions.modules, betterSqlite3: betterSqlite3Version() })

/** Installs the reference packages into the cache (once per version and Node ABI); returns the directory. */
export const ensureReferenceAppview = (dir = referenceAppviewDir(), log = console.error): string => {
  const want = wanted()
  try {
    if (fs.readFileSync(path.join(dir, MARKER), 'utf8') === JSON.stringify(want)) return dir
  } catch {
    // not installed yet
  }
  fs.mkdirSync(dir, { recursive: true })
  fs.rmSync(path.join(dir, MARKER), { force: true })
  const pkg = { name: 'atsuite-bench-reference-appview', private: true, type: 'module', dependencies: REFERENCE_PACKAGES, overrides: { 'better-sqlite3': want.betterSqlite3 } }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n')
  const nodeBinDir = path.dirname(process.execPath)
  const nodeDir = path.dirname(nodeBinDir)
  const env: Record<string, string | undefined> = { ...process.env, PATH: [nodeBinDir, process.env.PATH].join(path.delimiter) }
  if (fs.existsSync(path.join(nodeDir, 'include', 'node'))) env.npm_config_nodedir = nodeDir
  log(`installing ${Object.keys(REFERENCE_PACKAGES).join(', ')} into ${dir} (once; a few minutes)…`)
  const started = Date.now()
  const res = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, env, stdio: 'inherit' })
  if (res.status !== 0) throw new Error(`npm install of the reference app view failed (${res.status ?? res.signal})`)
  fs.writeFileSync(path.join(dir, MARKER), JSON.stringify(want))
  log(`installed in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  return dir
}

/** Debian's PostgreSQL binaries (installed with apt-get when missing), or null when they cannot be had. */
export const postgresBinDir = (log = console.error): string | null => {
  const find = () => {
    const root = '/usr/lib/postgresql'
    if (!fs.existsSync(root)) return null
    const v = fs.readdirSync(root).sort((a, b) => Number(b) - Number(a))[0]
    return v && fs.existsSync(path.join(root, v, 'bin', 'initdb')) ? path.join(root, v, 'bin') : null
  }
  let bin = find()
  if (bin) return bin
  log('installing Debian postgresql (apt-get)…')
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' })
  spawnSync('apt-get', ['install', '-y', '-qq', 'postgresql'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  bin = find()
  return bin
}

export type Postgres = { url: string; child: ChildProcess; stop(): Promise<void> }

/** A throwaway PostgreSQL cluster in `dir`, owned by the `postgres` user, on a loopback port. */
export const startPostgres = async (bin: string, dir: string, port: number): Promise<Postgres> => {
  fs.mkdirSync(dir, { recursive: true })
  spawnSync('chown', ['postgres:postgres', dir])
  const asPg = (cmd: string, args: string[]) => spawnSync('runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args], { encoding: 'utf8' })
  const data = path.join(dir, 'data')
  const init = asPg('initdb', ['-D', data, '-A', 'trust', '-U', 'pg', '--no-sync'])
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`)
  const child = spawn('runuser', ['-u', 'postgres', '--', path.join(bin, 'postgres'), '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'], {
    stdio: ['ignore', fs.openSync(path.join(dir, 'postgres.log'), 'a'), fs.openSync(path.join(dir, 'postgres.log'), 'a')],
  })
  const url = `postgresql://pg@127.0.0.1:${port}/postgres`
  for (let i = 0; i < 100; i++) {
    const r = spawnSync(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)])
    if (r.status === 0) break
    await sleep(100)
  }
  return {
    url,
    child,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      // runuser does not pass signals on to postgres: ask the cluster itself
      asPg('pg_ctl', ['-D', data, 'stop', '-m', 'fast', '-w'])
      await Promise.race([exited, sleep(10_000)])
    },
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureReferenceAppview()
  console.error(`postgres: ${postgresBinDir() ?? 'unavailable'}`)
}
