// PDS benchmark: our PDS against the reference @atproto/pds, each in its own
// process on loopback, one after the other, both on one local PLC directory.
//
//   npm run bench:pds [-- --only ours|reference] [--quick] [--rounds N] [--keep] [--big-repo N] [--profile]
//
// Figures: sequential and concurrent createRecord throughput, getRecord and
// getRepo latency, server RSS and CPU. Each round starts every server afresh
// on an empty data directory; the table shows the median over rounds (3 by
// default, 1 with --quick). Temp data is removed at the end unless --keep.
//
// --profile writes a V8 CPU profile of our PDS for each round to <work dir>/round-N/profile
// (implies --keep).
//
// --big-repo N (e.g. 100000) adds one more run per server after the rounds: a
// fresh account filled with N records (applyWrites, 200 a call), then getRepo
// of it three times, each read to the end as it streams in (never held whole
// by the client), with the server's RSS sampled every 20 ms: time to the first
// byte and to the last, CAR size, and how far the server's RSS rose while it
// sent (a streamed export stays flat in the size of the repo).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { isRunning, logTail, memoryMiB, stopServer, type ServerProcess } from './lib/process.ts'
import { errorMessage, isInterrupted, progress, runBench, stepRunner } from './lib/run.ts'
import { REFERENCE_VERSION, ensureReferenceInstalled } from './lib/reference.ts'
import { startOurPds, startPlc, startReferencePds, type Target } from './lib/servers.ts'
import { cpuWindow, processCpuSeconds, type CpuWindow } from './lib/cpu.ts'
import { median, timer } from './lib/stats.ts'
import { formatComparison, formatRounds, formatTable, type Row, type TargetResult } from './lib/table.ts'
import {
  FULL,
  QUICK,
  concurrentWrites,
  fillRepo,
  getRecordReads,
  getRepoRuns,
  sequentialWrites,
  warmUp,
  type Counts,
} from './lib/workload.ts'
import { XrpcClient, type Session } from './lib/xrpc.ts'

const { values: flags } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    'big-repo': { type: 'string', default: '0' },
    profile: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (flags.help) {
  console.log('usage: npm run bench:pds -- [--only ours|reference] [--quick] [--rounds N] [--keep] [--big-repo N] [--profile]')
  process.exit(0)
}
if (flags.only !== undefined && flags.only !== 'ours' && flags.only !== 'reference') {
  console.error(`--only must be "ours" or "reference", got "${flags.only}"`)
  process.exit(2)
}
const targets: Target[] = flags.only ? [flags.only as Target] : ['ours', 'reference']
const counts: Counts = flags.quick ? QUICK : FULL
const rounds = flags.rounds === undefined ? (flags.quick ? 1 : 3) : Number(flags.rounds)
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`--rounds must be a positive integer, got "${flags.rounds}"`)
  process.exit(2)
}

/** the rounds' directories (and the work dir) stay: --keep, or --profile (the profiles are in them) */
const keepRounds = Boolean(flags.keep || flags.profile)

const bigRepo = Number(flags['big-repo'])
if (!Number.isInteger(bigRepo) || bigRepo < 0) {
  console.error(`--big-repo must be a whole number of records, got "${flags['big-repo']}"`)
  process.exit(2)
}

/** Runs every workload against one started server; a failing step is recorded and later steps go on where they can. */
const measure = async (server: ServerProcess): Promise<TargetResult> => {
  const elapsed = timer()
  const result: TargetResult = { errors: [], elapsedMs: 0 }
  const step = stepRunner(server, result.errors)
  const client = new XrpcClient(server.url)
  result.rssStartMiB = memoryMiB(server.pid)

  const account = (name: string) => step(`createAccount ${name}`, () => client.createAccount(name))
  const warm = await account('bench-warm')
  const seq = await account('bench-seq')
  const big = await account('bench-big')
  const writers: Session[] = []
  for (let i = 0; i < counts.concurrentAccounts; i++) {
    const s = await account(`bench-c${i}`)
    if (s) writers.push(s)
  }

  if (warm) await step(`warm-up (${counts.warmupOps} writes + reads)`, () => warmUp(client, warm, counts.warmupOps))
  if (seq) {
    const out = await step(`sequential createRecord ×${counts.sequentialWrites}`, () =>
      sequentialWrites(client, seq, counts.sequentialWrites),
    )
    if (out) {
      result.sequential = out
      result.getRecord = await step(`getRecord ×${counts.getRecordReads}`, () =>
        getRecordReads(client, seq.did, out.uris, counts.getRecordReads),
      )
    }
  }
  if (writers.length === counts.concurrentAccounts) {
    result.concurrent = await step(
      `concurrent createRecord ${counts.concurrentAccounts} accounts × ${counts.writesPerAccount}`,
      () => concurrentWrites(client, writers, counts.writesPerAccount),
    )
  }
  if (big) {
    const filled = await step(`fill a repo to ${counts.getRepoRecords} records (applyWrites)`, async () => {
      await fillRepo(client, big, counts.getRepoRecords)
      return true
    })
    if (filled) {
      result.getRepo = await step(`getRepo ×${counts.getRepoRuns}`, () => getRepoRuns(client, big.did, counts.getRepoRuns))
    }
  }

  if (isRunning(server)) {
    result.rssEndMiB = memoryMiB(server.pid)
    result.rssPeakMiB = memoryMiB(server.pid, 'VmHWM')
  } else {
    result.errors.push(`server process exited during the run\n${logTail(server.logFile)}`)
  }
  result.elapsedMs = elapsed()
  return result
}

/** Starts one server in a fresh data directory, measures it, reads its CPU time and stops it. */
const runTarget = async (target: Target, roundDir: string, plcUrl: string, cacheDir: string | undefined, cpu: CpuWindow) => {
  let server: ServerProcess
  try {
    const profileArgs = flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(roundDir, 'profile')}`] : []
    server = target === 'ours' ? await startOurPds(roundDir, plcUrl, profileArgs) : await startReferencePds(roundDir, plcUrl, cacheDir!)
  } catch (err) {
    return { errors: [`start: ${errorMessage(err)}`], elapsedMs: 0 } satisfies TargetResult
  }
  progress(`${server.name} at ${server.url} (pid ${server.pid})`)
  const result = await measure(server)
  if (isRunning(server)) {
    result.serverCpuSeconds = processCpuSeconds(server.pid)
    cpu.addChild(result.serverCpuSeconds)
  }
  await stopServer(server)
  return result
}

type BigRepoResult = {
  fillSeconds: number
  carBytes: number
  totalMs: number[]
  firstByteMs: number[]
  rssBeforeMiB: number
  rssPeakMiB: number
  error?: string
}

/** One getRepo read to the end as it arrives, with the server's RSS sampled meanwhile. */
const streamedGetRepo = async (server: ServerProcess, did: string) => {
  let peak = memoryMiB(server.pid)
  const sampler = setInterval(() => {
    if (isRunning(server)) peak = Math.max(peak, memoryMiB(server.pid))
  }, 20)
  try {
    const elapsed = timer()
    const res = await fetch(`${server.url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`, { signal: AbortSignal.timeout(600_000) })
    if (!res.ok || !res.body) throw new Error(`getRepo answered ${res.status}: ${await res.text()}`)
    let firstByteMs = -1
    let bytes = 0
    for await (const chunk of res.body) {
      if (firstByteMs < 0) firstByteMs = elapsed()
      bytes += (chunk as Uint8Array).byteLength
    }
    return { totalMs: elapsed(), firstByteMs, bytes, peakMiB: peak }
  } finally {
    clearInterval(sampler)
  }
}

/** A fresh server, one account filled with `records` records, then three streamed getRepos of it. */
const runBigRepo = async (target: Target, dir: string, plcUrl: string, cacheDir: string | undefined): Promise<BigRepoResult> => {
  const result: BigRepoResult = { fillSeconds: 0, carBytes: 0, totalMs: [], firstByteMs: [], rssBeforeMiB: 0, rssPeakMiB: 0 }
  let server: ServerProcess
  try {
    server = target === 'ours' ? await startOurPds(dir, plcUrl) : await startReferencePds(dir, plcUrl, cacheDir!)
  } catch (err) {
    return { ...result, error: `start: ${errorMessage(err)}` }
  }
  try {
    const client = new XrpcClient(server.url)
    const account = await client.createAccount('bench-huge')
    const fillElapsed = timer()
    const CHUNK = 10_000
    for (let done = 0; done < bigRepo; done += CHUNK) {
      if (isInterrupted()) return { ...result, error: 'interrupted' }
      await fillRepo(client, account, Math.min(CHUNK, bigRepo - done))
      progress(`${server.name}: ${Math.min(done + CHUNK, bigRepo).toLocaleString('en-US')} / ${bigRepo.toLocaleString('en-US')} records`)
    }
    result.fillSeconds = fillElapsed() / 1000
    // settle: what the writes left behind is not the export's
    await new Promise((r) => setTimeout(r, 2_000))
    result.rssBeforeMiB = memoryMiB(server.pid)
    for (let i = 0; i < 3; i++) {
      const run = await streamedGetRepo(server, account.did)
      progress(`${server.name}: getRepo ${(run.bytes / 1048576).toFixed(1)} MiB in ${run.totalMs.toFixed(0)} ms (first byte ${run.firstByteMs.toFixed(1)} ms)`)
      result.totalMs.push(run.totalMs)
      result.firstByteMs.push(run.firstByteMs)
      result.carBytes = run.bytes
      result.rssPeakMiB = Math.max(result.rssPeakMiB, run.peakMiB)
    }
  } catch (err) {
    result.error = errorMessage(err)
  } finally {
    await stopServer(server)
  }
  return result
}

const formatBigRepo = (ours: BigRepoResult | undefined, reference: BigRepoResult | undefined): string => {
  const rows: Row<BigRepoResult>[] = [
    { label: 'getRepo, median of 3', unit: 'ms', digits: 0, value: (r) => median(r.totalMs), goal: { max: 0.2 } },
    { label: '  first byte, median', unit: 'ms', digits: 1, value: (r) => median(r.firstByteMs) },
    { label: '  CAR size', unit: 'MiB', digits: 1, value: (r) => r.carBytes / 1048576 },
    { label: 'server RSS before', unit: 'MiB', digits: 0, value: (r) => r.rssBeforeMiB },
    { label: 'server RSS rise while sending', unit: 'MiB', digits: 0, value: (r) => r.rssPeakMiB - r.rssBeforeMiB },
    { label: `filling it (applyWrites ×${Math.ceil(bigRepo / 200)})`, unit: 's', digits: 1, value: (r) => r.fillSeconds },
  ]
  const measured = (r: BigRepoResult | undefined): BigRepoResult[] => (r && r.error === undefined && r.totalMs.length > 0 ? [r] : [])
  const out = [formatComparison(rows, measured(ours), measured(reference))]
  for (const [name, r] of [['ours', ours], ['reference', reference]] as const) if (r?.error) out.push(`${name}: ✗ ${r.error}`)
  return out.join('\n')
}

const main = async (workDir: string): Promise<void> => {
  const cacheDir = targets.includes('reference') ? ensureReferenceInstalled() : undefined
  const cpu = cpuWindow()

  progress(`work directory ${workDir}`)
  const plc = await startPlc(workDir)
  progress(`plc directory at ${plc.url} (pid ${plc.pid})`)

  const results: Record<Target, TargetResult[]> = { ours: [], reference: [] }
  for (let round = 1; round <= rounds; round++) {
    // alternate the order so a slow stretch of the machine does not always hit the same server
    const order = round % 2 === 1 ? targets : [...targets].reverse()
    const roundDir = path.join(workDir, `round-${round}`)
    for (const target of order) {
      if (isInterrupted()) return
      progress(`round ${round}/${rounds}: ${target}`)
      results[target].push(await runTarget(target, roundDir, plc.url, cacheDir, cpu))
    }
    if (!keepRounds) fs.rmSync(roundDir, { recursive: true, force: true })
  }
  const big: Partial<Record<Target, BigRepoResult>> = {}
  if (bigRepo > 0) {
    for (const target of targets) {
      if (isInterrupted()) return
      progress(`getRepo of ${bigRepo.toLocaleString('en-US')} records: ${target}`)
      big[target] = await runBigRepo(target, path.join(workDir, `big-${target}`), plc.url, cacheDir)
      if (!flags.keep) fs.rmSync(path.join(workDir, `big-${target}`), { recursive: true, force: true })
    }
  }
  if (isRunning(plc)) cpu.addChild(processCpuSeconds(plc.pid))
  await stopServer(plc)
  if (isInterrupted()) return
  const load = cpu.finish()

  const c = counts
  console.log()
  console.log(
    `PDS benchmark${flags.quick ? ' (--quick)' : ''}: ours vs @atproto/pds ${REFERENCE_VERSION}, ` +
      `Node ${process.versions.node}, ${os.cpus().length} cores, loopback`,
  )
  console.log(
    `  sequential ${c.sequentialWrites} writes · concurrent ${c.concurrentAccounts}×${c.writesPerAccount} · ` +
      `getRecord ×${c.getRecordReads} · getRepo of ${c.getRepoRecords} records, median of ${c.getRepoRuns}` +
      ` · each figure the median of ${rounds} round${rounds === 1 ? '' : 's'}`,
  )
  console.log()
  console.log(formatTable(results.ours, results.reference))
  console.log()
  if (rounds > 1) {
    console.log('per round:')
    console.log(formatRounds(results.ours, results.reference))
    console.log()
  }
  if (bigRepo > 0) {
    console.log(`getRepo of one account with ${bigRepo.toLocaleString('en-US')} records (a fresh server each, read as it streams):`)
    console.log(formatBigRepo(big.ours, big.reference))
    console.log()
  }
  for (const target of targets) {
    results[target].forEach((r, i) => {
      if (r.errors.length === 0) return
      console.log(`${target}, round ${i + 1}: ${r.errors.length} failure(s):`)
      for (const e of r.errors) console.log(`  ✗ ${e}`)
    })
  }
  const otherShare = load.otherSeconds / load.wallSeconds
  console.log(
    `total ${load.wallSeconds.toFixed(1)} s · CPU: benchmark and its servers ${load.ownSeconds.toFixed(1)} s, ` +
      `other processes ${load.otherSeconds.toFixed(1)} s (${(otherShare * 100).toFixed(0)}% of a core), ` +
      `stolen ${load.stealSeconds.toFixed(1)} s`,
  )
  if (otherShare > 0.1) {
    console.log(`⚠ other processes kept the machine busy during the run: the figures are noisy, run again on a quiet machine`)
  }
  if (targets.some((t) => results[t].some((r) => r.errors.length > 0) || big[t]?.error)) process.exitCode = 1
}

await runBench('atsuite-bench-', keepRounds, main)
