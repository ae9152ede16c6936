// The reference app view (@atproto/bsky) measured beside ours, as far as it
// can run here: installed into a cache directory (reference-install.ts), on
// a throwaway Debian PostgreSQL, inside dev-env's TestNetwork in its own
// process (reference-runner.ts).
//   post→visible: its own PDS → bsky (it indexes the PDS firehose directly;
//     there is no relay in its path, unlike ours).
//   indexing: a second TestNetwork whose bsky subscribes to our fake host;
//     the synthetic accounts are registered in that network's PLC, a smaller
//     network (--reference-scale) is pre-generated, and bsky's firehose
//     cursor is sampled every second. CPU counts the runner process (bsky,
//     dataplane, PDS, PLC, bsync, ozone share it) plus every PostgreSQL
//     process; RSS is the runner's alone. Database size: bsky's schema's
//     tables with their indexes and TOAST.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ChildProcess } from 'node:child_process'
import { percentile } from '../lib/stats.ts'
import { cpuSeconds, freePort, logTail, nextMessage, repoRoot, rssMiB, startWorker, stop } from '../relay-lib/proc.ts'
import { registerAccounts } from './identities.ts'
import type { IndexingResult, IndexSample } from './indexing.ts'
import { makePlan, paramsForScale } from './plan.ts'
import { ensureReferenceAppview, postgresBinDir, startPostgres } from './reference-install.ts'
import type { Side } from './report.ts'
import { pregenerate, startHost } from './stream.ts'

const runnerScript = path.join(repoRoot, 'scripts/bench/appview-lib/reference-runner.ts')

/**
 * CPU seconds of every process running as `postgres` (the cluster we started
 * is the only one), exited backends included: their time moves into the
 * postmaster's children time (cutime + cstime) when it reaps them.
 */
const postgresCpu = (): number => {
  let total = 0
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.statSync(`/proc/${pid}`).uid !== postgresUid) continue
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      total += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100
    } catch {
      // gone
    }
  }
  return total
}
let postgresUid = -1

const startRunner = async (workDir: string, name: string, args: string[]): Promise<{ child: ChildProcess; plcUrl: string }> => {
  const child = startWorker(runnerScript, args, path.join(workDir, `${name}.log`))
  try {
    const ready = await nextMessage<{ type: string; plcUrl: string }>(child, 'ready', 180_000)
    return { child, plcUrl: ready.plcUrl }
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${logTail(path.join(workDir, `${name}.log`))}`)
  }
}

export const runReference = async (opts: {
  workDir: string
  side: Side
  scale: number
  /** accounts of the reference's synthetic network (bsky works through DIDs in parallel) */
  accounts: number
  seed: number
  workers: number
  visiblePosts: number
  intervalMs: number
  /** the indexing measurement stops here, finished or not */
  maxSeconds: number
  log: (m: string) => void
}): Promise<void> => {
  const { workDir, side, log } = opts
  const cache = ensureReferenceAppview(undefined, log)
  const bin = postgresBinDir(log)
  if (!bin) throw new Error('no PostgreSQL: Debian postgresql could not be installed')
  postgresUid = Number(fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'))?.split(':')[2] ?? -1)
  const pgDir = path.join(os.tmpdir(), `bench-appview-pg-${process.pid}`)
  const pg = await startPostgres(bin, pgDir, await freePort())
  process.env.DB_POSTGRES_URL = pg.url
  process.env.REDIS_HOST = 'unused.invalid'
  process.env.ATSUITE_BENCH_APPVIEW_DIR = cache
  try {
    // post→visible
    {
      log('reference: post→visible (dev-env TestNetwork: PDS → bsky)')
      const { child } = await startRunner(workDir, 'reference-visible', ['--mode', 'visible', '--schema', 'bench_visible'])
      try {
        const msg = nextMessage<{ type: string; result: { afterWrite: number[]; fromSend: number[]; timeouts: number } }>(child, 'visible', 600_000)
        child.send({ type: 'visible', count: opts.visiblePosts, intervalMs: opts.intervalMs })
        const v = (await msg).result
        side.visible = { p50: percentile(v.afterWrite, 50), p99: percentile(v.afterWrite, 99), n: v.afterWrite.length, timeouts: v.timeouts, fromSendP50: percentile(v.fromSend, 50) }
        if (v.timeouts) side.notes.push(`post→visible: ${v.timeouts} posts not visible within 10 s`)
        log(`  reference post→visible p50 ${side.visible.p50.toFixed(1)} ms, p99 ${side.visible.p99.toFixed(1)} ms`)
      } finally {
        if (child.connected) child.send({ type: 'stop' })
        await stop(child, 20_000)
      }
    }
    // indexing a smaller synthetic network
    {
      const params = paramsForScale(opts.scale, opts.accounts)
      const plan = makePlan(params, opts.seed)
      log(`reference: indexing ${plan.events.toLocaleString('en-US')} synthetic events (scale ${opts.scale})`)
      const host = await startHost(workDir, 'reference-host')
      const { child, plcUrl } = await startRunner(workDir, 'reference-index', ['--mode', 'index', '--schema', 'bench_index', '--stream', `ws://127.0.0.1:${host.port}`])
      try {
        const accounts = await registerAccounts(plcUrl, host.url, params.accounts, () => undefined)
        const gen = await pregenerate({ workDir, name: 'reference', scale: opts.scale, accountCount: opts.accounts, seed: opts.seed, accounts, plan, host, workers: opts.workers, log })
        const cursor = async () => {
          const m = nextMessage<{ type: string; cursor: number }>(child, 'cursor', 60_000)
          child.send({ type: 'cursor' })
          return (await m).cursor
        }
        host.child.send({ type: 'stream', files: gen.files })
        const samples: IndexSample[] = []
        const start = Date.now()
        const cpu = () => (cpuSeconds(child.pid!) ?? 0) + postgresCpu()
        let first: { t: number; events: number; cpu: number } | null = null
        let lastCpu = cpu()
        let lastT = start
        let lastMove = start
        let lastEvents = -1
        for (;;) {
          await sleep(1000)
          const events = await cursor().catch(() => Math.max(0, lastEvents))
          const now = Date.now()
          const c = cpu()
          const t = (now - start) / 1000
          samples.push({ t, events, records: events, cursor: events, rssMiB: rssMiB(child.pid!) ?? Number.NaN, anonMiB: rssMiB(child.pid!, 'RssAnon') ?? Number.NaN, cpuCores: (c - lastCpu) / ((now - lastT) / 1000), load1: os.loadavg()[0], writeBytes: Number.NaN, statsMs: Number.NaN })
          lastCpu = c
          lastT = now
          if (events > 0 && !first) first = { t, events, cpu: c }
          if (events !== lastEvents) {
            lastEvents = events
            lastMove = now
          }
          if (events >= plan.events) break
          if (t > opts.maxSeconds) {
            side.notes.push(`indexing did not finish: ${events.toLocaleString('en-US')} of ${plan.events.toLocaleString('en-US')} events after ${t.toFixed(0)} s (--reference-max-seconds); the rate is over what it did`)
            break
          }
          if (samples.length % 15 === 0) log(`  t=${t.toFixed(0)}s reference cursor ${events.toLocaleString('en-US')}/${plan.events.toLocaleString('en-US')}`)
          if (now - lastMove > 120_000) throw new Error(`reference stalled at cursor ${events} of ${plan.events}\n${logTail(path.join(workDir, 'reference-index.log'))}`)
        }
        const last = samples[samples.length - 1]
        const f = first ?? { t: 0, events: 0, cpu: 0 }
        const seconds = Math.max(1, last.t - f.t)
        const sizeMsg = nextMessage<{ type: string; bytes: number }>(child, 'size', 60_000)
        child.send({ type: 'size' })
        const result: IndexingResult = {
          events: last.events,
          records: last.events,
          seconds,
          eventsPerSec: (last.events - f.events) / seconds,
          recordsPerSec: (last.events - f.events) / seconds,
          secondsToIdle: seconds,
          cpuSeconds: lastCpu - f.cpu,
          writeBytes: Number.NaN,
          samples,
          dbBytes: (await sizeMsg).bytes,
          stats: { cursor: last.events, idle: true, skipped: {}, activity: {} },
        }
        side.indexing = result
        side.notes.push(`indexing at scale ${opts.scale} with ${opts.accounts} accounts: ${result.events.toLocaleString('en-US')} events in ${seconds.toFixed(0)} s; CPU = runner process (whole TestNetwork) + PostgreSQL; RSS = runner process only; records/s taken as events/s (one record per commit)`)
        log(`  reference indexed ${result.eventsPerSec.toFixed(0)} events/s`)
      } finally {
        if (child.connected) child.send({ type: 'stop' })
        if (host.child.connected) host.child.send({ type: 'stop' })
        await Promise.all([stop(child, 20_000), stop(host.child)])
      }
    }
  } finally {
    await pg.stop()
    fs.rmSync(pgDir, { recursive: true, force: true })
  }
}
