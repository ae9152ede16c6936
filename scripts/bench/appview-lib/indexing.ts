// Starting our app view as its own process (`node packages/appview/src/bin.ts`
// with APPVIEW_* env), and the indexing measurement: while it catches up
// with the pre-generated stream, GET /_appview/stats and /proc are sampled
// every second (events, records, cursor, RSS, CPU). The rate is the events
// (and records) indexed between the first sample that shows progress and the
// one where the cursor reaches the last seq, over the time between them.
// How long /_appview/stats takes to answer while indexing shows how long the
// indexer holds the event loop (what any read would wait behind). Database size
// is the SQLite file plus its WAL (and shm) once the cursor is there.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cpuSeconds, freePort, logTail, repoRoot, rssMiB, startServer, type Server } from '../relay-lib/proc.ts'

export type AppviewStats = {
  cursor: number
  idle: boolean
  skipped: Record<string, number>
  activity: Record<string, number>
}

export type AppviewProc = Server & { did: string; dataDir: string }

/** Our app view on a free loopback port; `streamUrl` is the ws:// host it subscribes to. */
export const startAppview = async (opts: {
  workDir: string
  name: string
  plcUrl: string
  streamUrl: string
  nodeArgs?: string[]
  /** where the SQLite files go instead of the data directory (e.g. a tmpfs, to see what the disk costs) */
  dbDir?: string
}): Promise<AppviewProc> => {
  const port = await freePort()
  const dataDir = opts.dbDir ? path.join(opts.dbDir, opts.name) : path.join(opts.workDir, opts.name)
  const did = `did:web:localhost%3A${port}`
  const server = await startServer({
    name: opts.name,
    entry: path.join(repoRoot, 'packages/appview/src/bin.ts'),
    env: {
      APPVIEW_PORT: String(port),
      APPVIEW_DATA_DIRECTORY: dataDir,
      APPVIEW_PLC_URL: opts.plcUrl,
      APPVIEW_REPO_STREAM_URL: opts.streamUrl,
      APPVIEW_DID: did,
      LOG_LEVEL: 'warn',
    },
    url: `http://127.0.0.1:${port}`,
    healthPath: '/xrpc/_health',
    logFile: path.join(opts.workDir, `${opts.name}.log`),
    nodeArgs: opts.nodeArgs,
  })
  return { ...server, did, dataDir }
}

export const appviewStats = async (url: string): Promise<AppviewStats> => {
  const res = await fetch(`${url}/_appview/stats`, { signal: AbortSignal.timeout(30_000) })
  if (!res.ok) throw new Error(`/_appview/stats: ${res.status}`)
  return (await res.json()) as AppviewStats
}

export type IndexSample = { t: number; events: number; records: number; cursor: number; rssMiB: number; anonMiB: number; cpuCores: number; load1: number; writeBytes: number; statsMs: number }

/** Bytes a process has written (write(2) calls, page cache included: the WAL traffic), from /proc. */
export const writtenBytes = (pid: number): number => {
  try {
    const m = /^wchar: (\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))
    return m ? Number(m[1]) : Number.NaN
  } catch {
    return Number.NaN
  }
}

export type IndexingResult = {
  events: number
  records: number
  seconds: number
  eventsPerSec: number
  recordsPerSec: number
  /** from the stream's start until idle (identity resolution finished too) */
  secondsToIdle: number
  cpuSeconds: number
  /** bytes the app view wrote while catching up (SQLite's WAL and checkpoints) */
  writeBytes: number
  samples: IndexSample[]
  dbBytes: number
  stats: AppviewStats
}

const fileSize = (f: string): number => {
  try {
    return fs.statSync(f).size
  } catch {
    return 0
  }
}

export const dbBytes = (dataDir: string): number =>
  ['appview.sqlite', 'appview.sqlite-wal', 'appview.sqlite-shm'].reduce((n, f) => n + fileSize(path.join(dataDir, f)), 0)

/**
 * Samples the app view until its cursor reaches `lastSeq` and it is idle.
 * Fails when nothing moves for `stallSeconds`.
 */
export const measureIndexing = async (av: AppviewProc, lastSeq: number, log: (m: string) => void, stallSeconds = 180): Promise<IndexingResult> => {
  const samples: IndexSample[] = []
  const start = Date.now()
  type Mark = { t: number; events: number; records: number; cpu: number; writeBytes: number }
  let first: Mark | null = null
  let caughtUp: Mark | null = null
  let lastCpu = cpuSeconds(av.pid) ?? 0
  let lastT = start
  let lastMove = start
  let lastEvents = -1
  let stats: AppviewStats
  for (;;) {
    await sleep(1000)
    const asked = performance.now()
    stats = await appviewStats(av.url)
    const statsMs = performance.now() - asked
    const now = Date.now()
    const cpu = cpuSeconds(av.pid) ?? Number.NaN
    const events = stats.activity.events ?? 0
    const records = stats.activity.records_indexed ?? 0
    const t = (now - start) / 1000
    const writeBytes = writtenBytes(av.pid)
    samples.push({ t, events, records, cursor: stats.cursor, rssMiB: rssMiB(av.pid) ?? Number.NaN, anonMiB: rssMiB(av.pid, 'RssAnon') ?? Number.NaN, cpuCores: (cpu - lastCpu) / ((now - lastT) / 1000), load1: os.loadavg()[0], writeBytes, statsMs })
    lastCpu = cpu
    lastT = now
    if (events > 0 && !first) first = { t, events, records, cpu, writeBytes }
    if (events !== lastEvents) {
      lastEvents = events
      lastMove = now
    }
    if (!caughtUp && stats.cursor >= lastSeq) caughtUp = { t, events, records, cpu, writeBytes }
    if (caughtUp && stats.idle) break
    if (samples.length % 10 === 0) {
      const s = samples[samples.length - 1]
      const prev = samples[samples.length - 11]
      const rate = prev ? (s.events - prev.events) / (s.t - prev.t) : s.events / s.t
      log(`  t=${t.toFixed(0)}s cursor ${stats.cursor.toLocaleString('en-US')}/${lastSeq.toLocaleString('en-US')}, ${rate.toFixed(0)} events/s, RSS ${s.rssMiB.toFixed(0)} MiB, load ${s.load1.toFixed(2)}`)
    }
    if (now - lastMove > stallSeconds * 1000) {
      throw new Error(`app view stalled at cursor ${stats.cursor} of ${lastSeq} (${JSON.stringify(stats)})\n${logTail(av.logFile)}`)
    }
  }
  const f = first ?? { t: 0, events: 0, records: 0, cpu: 0, writeBytes: 0 }
  const c = caughtUp!
  const seconds = Math.max(1, c.t - f.t)
  return {
    events: c.events,
    records: c.records,
    seconds,
    eventsPerSec: (c.events - f.events) / seconds,
    recordsPerSec: (c.records - f.records) / seconds,
    secondsToIdle: samples[samples.length - 1].t - f.t,
    cpuSeconds: c.cpu - f.cpu,
    writeBytes: c.writeBytes - f.writeBytes,
    samples,
    dbBytes: dbBytes(av.dataDir),
    stats,
  }
}
