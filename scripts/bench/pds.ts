// PDS benchmark: our PDS against the reference @atproto/pds, each in its own
// process on loopback, one after the other, both on one local PLC directory.
//
//   npm run bench:pds [-- --only ours|reference] [--quick] [--rounds N] [--keep]
//
// Figures: sequential and concurrent createRecord throughput, getRecord and
// getRepo latency, server RSS and CPU. Each round starts every server afresh
// on an empty data directory; the table shows the median over rounds (3 by
// default, 1 with --quick). Temp data is removed at the end unless --keep.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { isRunning, logTail, memoryMiB, stopServer, type ServerProcess } from './lib/process.ts'
import { errorMessage, isInterrupted, progress, runBench, stepRunner } from './lib/run.ts'
import { REFERENCE_VERSION, ensureReferenceInstalled } from './lib/reference.ts'
import { startOurPds, startPlc, startReferencePds, type Target } from './lib/servers.ts'
import { cpuWindow, processCpuSeconds, type CpuWindow } from './lib/cpu.ts'
import { timer } from './lib/stats.ts'
import { formatRounds, formatTable, type TargetResult } from './lib/table.ts'
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
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (flags.help) {
  console.log('usage: npm run bench:pds -- [--only ours|reference] [--quick] [--rounds N] [--keep]')
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
    server = target === 'ours' ? await startOurPds(roundDir, plcUrl) : await startReferencePds(roundDir, plcUrl, cacheDir!)
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
    if (!flags.keep) fs.rmSync(roundDir, { recursive: true, force: true })
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
  if (targets.some((t) => results[t].some((r) => r.errors.length > 0))) process.exitCode = 1
}

await runBench('atsuite-bench-', Boolean(flags.keep), main)
