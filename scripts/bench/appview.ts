// App view benchmark: indexing rate, database size, RSS and read latency of
// our app view (packages/appview) over a synthetic network, post→visible
// latency through PDS → relay → app view, and the reference @atproto/bsky
// beside it where it can run.
//
//   npm run bench:appview [-- --scale 1] [--accounts n] [--seed 1] [--workers 2] [--rounds 20]
//                            [--visible-posts 100] [--reference-scale 0.002] [--reference-accounts 1000]
//                            [--reference-max-seconds 300]
//                            [--no-reference] [--no-visible] [--db-dir dir] [--keep] [--profile]
//
// Every server is its own process: our PLC directory, a fake host (the PDS
// the DID documents name and the subscribeRepos upstream), our app view.
// 1. N accounts (10,000 at scale 1) are registered in the PLC with a key and
//    a handle; the network (appview-lib/plan.ts: posts, follows, likes,
//    reposts, replies, profiles; 8.26 M events at scale 1) is PRE-GENERATED
//    as #commit frames to files by one worker per core before any clock runs.
// 2. A fresh app view subscribes to the host, which sends the files as fast
//    as it reads; /_appview/stats gives events/s and records/s, /proc the RSS
//    and CPU; the SQLite file + WAL size after.
// 3. With the index full: getTimeline (light and heavy followers, pages 1
//    and 2), getPostThread, getProfile, one request at a time, with service JWTs.
// 4. Post→visible: our PDS, our relay crawling it, a second app view on the relay.
// 5. The reference (appview-lib/reference.ts): @atproto/bsky in dev-env's
//    TestNetwork on PostgreSQL: post→visible, and its indexing rate on a
//    smaller synthetic set (--reference-scale) sent by the same fake host.
// --accounts keeps that many accounts at a reduced scale (same total of follows,
// spread thinner), so viewers following > 5,000 exist below scale 1.
// --db-dir puts our app view's SQLite files elsewhere (a tmpfs such as /dev/shm
// shows how much of the indexing time is the disk).
// --profile writes a V8 CPU profile of our app view's indexing run (implies --keep).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { percentile } from './lib/stats.ts'
import { helpAndExit, numFlag } from './lib/flags.ts'
import { freePort, killAllSync, repoRoot, startServer, stop, stopAll } from './relay-lib/proc.ts'
import { FrameEncoder } from './appview-lib/encode.ts'
import { registerAccounts } from './appview-lib/identities.ts'
import { measureIndexing, startAppview } from './appview-lib/indexing.ts'
import { makePlan, paramsForScale, planCounts } from './appview-lib/plan.ts'
import { pregenerate, startHost } from './appview-lib/stream.ts'
import { measureReads } from './appview-lib/reads.ts'
import { formatSeries, formatTable, type Side } from './appview-lib/report.ts'
import { measureVisible } from './appview-lib/visible.ts'
import { runReference } from './appview-lib/reference.ts'

const { values: flags } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    accounts: { type: 'string' },
    seed: { type: 'string', default: '1' },
    workers: { type: 'string', default: String(Math.max(1, os.cpus().length)) },
    rounds: { type: 'string', default: '20' },
    'visible-posts': { type: 'string', default: '100' },
    interval: { type: 'string', default: '200' },
    'reference-scale': { type: 'string', default: '0.002' },
    'reference-accounts': { type: 'string', default: '1000' },
    'reference-max-seconds': { type: 'string', default: '300' },
    'no-reference': { type: 'boolean', default: false },
    'no-visible': { type: 'boolean', default: false },
    'db-dir': { type: 'string' },
    keep: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
const usage =
  'usage: npm run bench:appview -- [--scale 1] [--accounts n] [--seed 1] [--workers n] [--rounds 20] [--visible-posts 100] [--interval ms] [--reference-scale 0.002] [--reference-accounts 1000] [--reference-max-seconds 300] [--no-reference] [--no-visible] [--db-dir dir] [--keep] [--profile]'
helpAndExit(flags.help, usage)
const num = (name: keyof typeof flags, min: number): number => numFlag(flags, name, min, usage)
const scale = num('scale', 0.001)
const accountCount = flags.accounts === undefined ? undefined : Math.floor(num('accounts', 20))
const seed = Math.floor(num('seed', 1))
const workers = Math.floor(num('workers', 1))
const rounds = Math.floor(num('rounds', 1))
const visiblePosts = Math.floor(num('visible-posts', 1))
const interval = num('interval', 1)
const referenceScale = num('reference-scale', 0.001)
const referenceAccounts = Math.floor(num('reference-accounts', 20))
const referenceMaxSeconds = num('reference-max-seconds', 10)

const progress = (msg: string) => void process.stderr.write(`[bench:appview] ${msg}\n`)
const runStart = Date.now()
process.on('exit', killAllSync)
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    progress(`${sig}: stopping`)
    void stopAll().finally(() => process.exit(130))
  })
}

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-appview-'))
const ours: Side = { notes: [] }
const ref: Side = { notes: [] }
const loads: string[] = []
const noteLoad = (phase: string) => loads.push(`${phase} ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
let counts: Record<string, number> = {}
let pregenSeconds = 0
let frameBytes = 0

try {
  noteLoad('start')
  const plcPort = await freePort()
  fs.mkdirSync(path.join(workDir, 'plc'))
  const plc = await startServer({
    name: 'plc',
    entry: path.join(repoRoot, 'packages/plc/src/bin.ts'),
    env: { PLC_PORT: String(plcPort), PLC_HOST: '127.0.0.1', PLC_DATA_DIRECTORY: path.join(workDir, 'plc'), LOG_ENABLED: 'false' },
    url: `http://127.0.0.1:${plcPort}`,
    healthPath: '/_health',
    logFile: path.join(workDir, 'plc.log'),
  })

  // -- 1. the synthetic network, pre-generated
  const params = paramsForScale(scale, accountCount)
  const plan = makePlan(params, seed)
  counts = planCounts(plan)
  progress(`scale ${scale}: ${plan.events.toLocaleString('en-US')} events ${JSON.stringify(counts)}; work dir ${workDir}`)
  const host = await startHost(workDir, 'host')
  progress(`registering ${params.accounts.toLocaleString('en-US')} accounts in the PLC`)
  const accounts = await registerAccounts(plc.url, host.url, params.accounts, (n) => progress(`  ${n.toLocaleString('en-US')} registered`))
  const gen = await pregenerate({ workDir, name: 'ours', scale, accountCount, seed, accounts, plan, host, workers, log: progress })
  pregenSeconds = gen.seconds
  frameBytes = gen.bytes / plan.events
  noteLoad('after pre-generation')

  // -- 2. indexing
  const av = await startAppview({
    workDir,
    name: 'appview',
    plcUrl: plc.url,
    streamUrl: `ws://127.0.0.1:${host.port}`,
    dbDir: flags['db-dir'] ? fs.mkdtempSync(path.join(flags['db-dir'], 'bench-appview-db-')) : undefined,
    nodeArgs: flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(workDir, 'profile')}`] : [],
  })
  progress(`app view ${av.url} (pid ${av.pid}) indexing ${plan.events.toLocaleString('en-US')} events`)
  host.child.send({ type: 'stream', files: gen.files })
  ours.indexing = await measureIndexing(av, plan.events, progress)
  noteLoad('after indexing')
  const skipped = Object.entries(ours.indexing.stats.skipped).filter(([, v]) => v > 0)
  if (skipped.length) ours.notes.push(`skipped while indexing: ${JSON.stringify(Object.fromEntries(skipped))}`)
  progress(`indexed: ${JSON.stringify(ours.indexing.stats)}`)
  // The stream is spent: its frame files (~7.9 GB at scale 1, read through
  // once by the fake host, which closed each) go, so the reads below find the
  // index's pages in the page cache rather than the benchmark's input. Left
  // there, they held 4.2 GB of it while only 5.8 of the index's 8.1 GB were
  // cached, and a light follower's first timeline read waited on the disk.
  for (const f of gen.files) fs.rmSync(f.file, { force: true })

  // -- 3. reads
  progress('reads with the index full')
  const enc = new FrameEncoder(plan, accounts.map((a) => a.did), gen.t0, gen.dt)
  ours.reads = await measureReads({ url: av.url, aud: av.did, plan, enc, accounts, rounds, budgetMs: 90_000, log: progress })
  noteLoad('after reads')
  await stop(av.child, 30_000)
  if (flags['db-dir']) fs.rmSync(path.dirname(av.dataDir), { recursive: true, force: true })
  host.child.send({ type: 'stop' })
  await stop(host.child)
  if (flags.profile) progress(`CPU profile of the indexing run in ${path.join(workDir, 'profile')}`)

  // -- 4. post→visible
  if (!flags['no-visible']) {
    progress('post→visible: PDS → relay → app view')
    const v = await measureVisible({ workDir, plcUrl: plc.url, count: visiblePosts, intervalMs: interval, log: progress })
    ours.visible = { p50: percentile(v.afterWrite, 50), p99: percentile(v.afterWrite, 99), n: v.afterWrite.length, timeouts: v.timeouts, fromSendP50: percentile(v.fromSend, 50) }
    if (v.timeouts) ours.notes.push(`post→visible: ${v.timeouts} posts not visible within 10 s`)
    noteLoad('after post→visible')
  }
  await stop(plc.child)

  // -- 5. the reference
  if (!flags['no-reference']) {
    try {
      await runReference({ workDir, side: ref, scale: referenceScale, accounts: referenceAccounts, seed, workers, visiblePosts, intervalMs: interval, maxSeconds: referenceMaxSeconds, log: progress })
    } catch (err) {
      ref.notes.push(`reference failed: ${(err as Error).message.split('\n')[0]}`)
      progress(`reference failed: ${(err as Error).stack}`)
    }
    noteLoad('after reference')
  }
} catch (err) {
  console.error(`[bench:appview] failed: ${(err as Error).stack ?? err}`)
  process.exitCode = 1
  await stopAll()
}

// -- report
const r = ours.reads
const lines = [
  '',
  `App view benchmark — scale ${scale}${accountCount ? `, ${accountCount.toLocaleString('en-US')} accounts` : ''} (${Object.entries(counts).map(([k, v]) => `${v.toLocaleString('en-US')} ${k}`).join(', ')}); ${os.cpus().length} CPUs; run took ${((Date.now() - runStart) / 60000).toFixed(1)} min`,
  `pre-generated in ${pregenSeconds.toFixed(0)} s (${frameBytes.toFixed(0)} B/frame); load average (1/5/15 min): ${loads.join(' · ')}`,
  r ? `viewers: light follow ${r.lightFollows.join(', ')} · heavy follow ${r.heavyFollows.join(', ')}` : '',
  ref.indexing ? `reference indexing measured at --reference-scale ${referenceScale} --reference-accounts ${referenceAccounts} (${ref.indexing.events.toLocaleString('en-US')} events), ours at scale ${scale}` : '',
  '',
  formatTable(ours, ref),
  '',
  ...(ours.indexing ? ['our app view while indexing:', formatSeries(ours.indexing), ''] : []),
  ...(ref.indexing ? ['reference while indexing:', formatSeries(ref.indexing), ''] : []),
  ...[...ours.notes.map((n) => `ours: ${n}`), ...ref.notes.map((n) => `reference: ${n}`)],
  ...(r ? Object.entries(r).filter(([, v]) => typeof v === 'object' && v && 'errors' in v && v.errors > 0).map(([k, v]) => `ours ${k}: ${(v as { errors: number }).errors} errors, first: ${(v as { firstError?: string }).firstError}`) : []),
]
console.log(lines.join('\n'))
if (flags.keep || flags.profile || process.exitCode) progress(`kept ${workDir}`)
else fs.rmSync(workDir, { recursive: true, force: true })
