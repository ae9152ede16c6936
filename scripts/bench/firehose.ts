// Firehose benchmark: write→event latency on com.atproto.sync.subscribeRepos,
// our PDS against the reference @atproto/pds, each in its own process on
// loopback, one after the other, both on one local PLC directory.
//
//   npm run bench:firehose [-- --only ours|reference] [--quick] [--keep]
//
// One live WebSocket subscriber (no cursor) is attached to the PDS; one
// account then writes posts with createRecord. For each write the latency is
// the moment the `#commit` carrying its record path reaches the subscriber
// minus the moment the request was sent (and, separately, minus the moment
// the response was read: negative when the event came first). Two workloads:
// steady (the next write 5 ms after each response) and sparse (300 ms after).
// The writer never waits for the event before its next write.
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { cpuWindow, processCpuSeconds, type CpuWindow } from './lib/cpu.ts'
import { isRunning, logTail, stopServer, type ServerProcess } from './lib/process.ts'
import { errorMessage, isInterrupted, progress, runBench, stepRunner } from './lib/run.ts'
import { REFERENCE_VERSION, ensureReferenceInstalled } from './lib/reference.ts'
import { startOurPds, startPlc, startReferencePds, type Target } from './lib/servers.ts'
import { XrpcClient } from './lib/xrpc.ts'
import { FirehoseSubscriber } from './firehose-lib/subscriber.ts'
import { formatTable, ISSUE_REFERENCE_SPARSE, TARGET_P99_MS, type FirehoseResult } from './firehose-lib/table.ts'
import { FULL, QUICK, runWorkload, type Counts, type Workload } from './firehose-lib/workload.ts'

const { values: flags } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (flags.help) {
  console.log('usage: npm run bench:firehose -- [--only ours|reference] [--quick] [--keep]')
  process.exit(0)
}
if (flags.only !== undefined && flags.only !== 'ours' && flags.only !== 'reference') {
  console.error(`--only must be "ours" or "reference", got "${flags.only}"`)
  process.exit(2)
}
const targets: Target[] = flags.only ? [flags.only as Target] : ['ours', 'reference']
const counts: Counts = flags.quick ? QUICK : FULL

/** Quiet time before each timed workload, so the sparse one starts from an idle server. */
const IDLE_BEFORE_MS = 1_000

const describe = (w: Workload): string => `${w.name}: ${w.writes} writes, each ${w.gapMs} ms after the previous response`

/** Attaches the subscriber, creates the writer, warms up, then runs both workloads against one started server. */
const measure = async (server: ServerProcess): Promise<FirehoseResult> => {
  const result: FirehoseResult = { errors: [] }
  const step = stepRunner(server, result.errors)
  const client = new XrpcClient(server.url)
  const sub = await step('subscribeRepos (live)', () => FirehoseSubscriber.connect(server.url))
  if (!sub) return result
  try {
    const writer = await step('createAccount', () => client.createAccount('bench-firehose'))
    if (!writer) return result
    const warm = await step(`warm-up (${counts.warmupWrites} writes)`, () =>
      runWorkload(client, writer, sub, { writes: counts.warmupWrites, gapMs: 5 }),
    )
    if (!warm) return result
    for (const w of [counts.steady, counts.sparse]) {
      await sleep(IDLE_BEFORE_MS)
      const out = await step(describe(w), () => runWorkload(client, writer, sub, w))
      if (out) result[w.name as 'steady' | 'sparse'] = out
    }
  } finally {
    result.frames = [...sub.frameCounts].map(([t, n]) => `${t} ${n}`).join(', ')
    for (const p of sub.problems) result.errors.push(`subscriber: ${p}`)
    await sub.close()
  }
  for (const w of ['steady', 'sparse'] as const) {
    const r = result[w]
    if (r?.missed) result.errors.push(`${w}: ${r.missed} write(s) never reached the firehose`)
    if (r?.revMismatches) result.errors.push(`${w}: ${r.revMismatches} event(s) carried another rev than createRecord returned`)
  }
  if (!isRunning(server)) result.errors.push(`server process exited during the run\n${logTail(server.logFile)}`)
  return result
}

/** Starts one server in a fresh data directory, measures it, reads its CPU time and stops it. */
const runTarget = async (target: Target, dir: string, plcUrl: string, cacheDir: string | undefined, cpu: CpuWindow) => {
  let server: ServerProcess
  try {
    server = target === 'ours' ? await startOurPds(dir, plcUrl) : await startReferencePds(dir, plcUrl, cacheDir!)
  } catch (err) {
    return { errors: [`start: ${errorMessage(err)}`] } satisfies FirehoseResult
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

  const results: Partial<Record<Target, FirehoseResult>> = {}
  for (const target of targets) {
    if (isInterrupted()) return
    results[target] = await runTarget(target, path.join(workDir, target), plc.url, cacheDir, cpu)
  }
  if (isRunning(plc)) cpu.addChild(processCpuSeconds(plc.pid))
  await stopServer(plc)
  if (isInterrupted()) return
  const load = cpu.finish()

  console.log()
  console.log(
    `Firehose benchmark${flags.quick ? ' (--quick)' : ''}: write→event latency on subscribeRepos, ` +
      `ours vs @atproto/pds ${REFERENCE_VERSION}, Node ${process.versions.node}, ${os.cpus().length} cores, loopback`,
  )
  console.log(
    `  one live subscriber, one writer (createRecord); after ${counts.warmupWrites} warm-up writes: ` +
      `${describe(counts.steady)} · ${describe(counts.sparse)}`,
  )
  console.log()
  console.log(
    formatTable(results.ours, results.reference, {
      steady: `steady (${counts.steady.writes} writes, ${counts.steady.gapMs} ms apart)`,
      sparse: `sparse (${counts.sparse.writes} writes, ${counts.sparse.gapMs} ms apart)`,
    }),
  )
  console.log()
  console.log(
    'event − response read below 0: the event reached the subscriber before the createRecord response did; ' +
      'ours/ref is only shown for positive figures',
  )
  console.log(
    `target for ours (issue 3): write→event p99 < ${TARGET_P99_MS} ms at any write rate · reference as quoted in the issue: ` +
      `sparse p50 ${ISSUE_REFERENCE_SPARSE.p50} ms, p99 ${ISSUE_REFERENCE_SPARSE.p99} ms (its sequencer polls SQLite with a backoff)`,
  )
  for (const target of targets) {
    const r = results[target]!
    const cpuText = r.serverCpuSeconds === undefined ? '' : ` · server CPU ${r.serverCpuSeconds.toFixed(1)} s`
    console.log(`${target}: frames seen ${r.frames || 'none'}${cpuText}`)
  }
  console.log()
  for (const target of targets) {
    const r = results[target]!
    if (r.errors.length === 0) continue
    console.log(`${target}: ${r.errors.length} failure(s):`)
    for (const e of r.errors) console.log(`  ✗ ${e}`)
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
  if (targets.some((t) => results[t]!.errors.length > 0)) process.exitCode = 1
}

await runBench('atsuite-bench-firehose-', Boolean(flags.keep), main)
