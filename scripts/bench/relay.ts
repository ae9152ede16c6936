// Relay benchmark: synthetic PDS hosts stream valid signed commits into our
// relay while consumers are attached to its subscribeRepos.
//
//   npm run bench:relay [-- --duration 60] [--hosts 4] [--dids 250] [--consumers 10]
//                          [--rate 20000] [--warmup 5] [--keep] [--profile]
//
// --profile writes a V8 CPU profile of the relay to <work dir>/profile (implies --keep).
// --relay-node-args="flags" passes V8/Node flags to the relay's process (e.g. --relay-node-args=--trace-gc-nvp: the
// relay's log then has every GC with its pause, survivors and promotions).
// --jetstream attaches the consumers to the relay's Jetstream endpoint (/subscribe, JSON, each
// filtered: half wantedCollections=app.bsky.feed.*, half =app.bsky.feed.post) instead of subscribeRepos.
// Every process is separate, so the relay's RSS and CPU are its own: the PLC
// directory, the relay (`packages/relay/src/bin.ts`), one worker per fake
// host, one worker holding all consumers. Each host registers its DIDs in the
// PLC (documents naming the host and a secp256k1 key), announces the repos
// with #sync, then PRE-GENERATES its share of `rate x (warmup + duration)`
// commits to a file before the clock starts — signing happens before, not
// during, the measurement. Hosts then send on a fixed schedule (open loop) at
// `rate` events/s in total. The first `warmup` seconds are not measured.
//
// Figures: events/s received by each consumer (every relayed #commit was
// verified: signature, rev order, sync v1.1 inversion), end-to-end latency
// from the scheduled send time at the fake host to receipt at a consumer
// (p50/p90/p99/max, all consumers), relay RSS and CPU over time.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ChildProcess } from 'node:child_process'
import { Histogram } from '@atsuite/common'
import { helpAndExit, numFlag } from './lib/flags.ts'
import { nowMicros } from './relay-lib/fast-repo.ts'
import { cpuSeconds, freePort, killAllSync, logTail, nextMessage, repoRoot, rssMiB, startRelay, startServer, startWorker, stop, stopAll } from './relay-lib/proc.ts'
import { formatReport, type Sample } from './relay-lib/report.ts'

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' },
    hosts: { type: 'string', default: '4' },
    dids: { type: 'string', default: '250' },
    consumers: { type: 'string', default: '10' },
    rate: { type: 'string', default: '20000' },
    keep: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    jetstream: { type: 'boolean', default: false },
    'relay-node-args': { type: 'string', default: '' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
const usage =
  'usage: npm run bench:relay -- [--duration s] [--warmup s] [--hosts n] [--dids per-host] [--consumers n] [--rate events/s] [--keep] [--profile] [--jetstream] [--relay-node-args "flags"]'
helpAndExit(flags.help, usage)
const num = (name: keyof typeof flags, min: number): number => numFlag(flags, name, min, usage)
const duration = num('duration', 1)
const warmup = num('warmup', 0)
const hostCount = Math.floor(num('hosts', 1))
const didsPerHost = Math.floor(num('dids', 1))
const consumerCount = Math.floor(num('consumers', 1))
const rate = num('rate', 1)

const progress = (msg: string) => void process.stderr.write(`[bench:relay] ${msg}\n`)
const ADMIN = 'bench-admin'

process.on('exit', killAllSync)
let interrupted = false
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    interrupted = true
    progress(`${sig}: stopping`)
    void stopAll().finally(() => process.exit(130))
  })
}

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-relay-'))
/** set when the run shows something worth a look at the logs (drops, cut consumers) */
let keepForInspection = false
const post = async (url: string, body: unknown) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await res.text()
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${text}`)
}
const getJson = async (url: string, headers: Record<string, string> = {}): Promise<any> => {
  const res = await fetch(url, { headers })
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`)
  return res.json()
}

try {
  // -- servers
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
  const relay = await startRelay({
    workDir,
    name: 'relay',
    plcUrl: plc.url,
    adminPassword: ADMIN,
    env: { RELAY_HOST_RATE_LIMIT: String(Math.max(100_000, rate * 2)), RELAY_MAX_BUFFER_BYTES: String(256 * 1024 * 1024) },
    nodeArgs: [
      ...flags['relay-node-args'].split(' ').filter(Boolean),
      ...(flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(workDir, 'profile')}`] : []),
    ],
  })
  progress(`plc ${plc.url}, relay ${relay.url} (pid ${relay.pid}), work dir ${workDir}`)

  // -- hosts: register DIDs, get crawled, announce repos
  const hosts: { child: ChildProcess; hostname: string; sent: number; lagMs: number; maxLagMs: number }[] = []
  progress(`starting ${hostCount} fake hosts with ${didsPerHost} DIDs each`)
  for (let i = 0; i < hostCount; i++) {
    const child = startWorker(
      path.join(repoRoot, 'scripts/bench/relay-lib/host.ts'),
      ['--plc', plc.url, '--dids', String(didsPerHost), '--index', String(i), '--file', path.join(workDir, `host-${i}.frames`)],
      path.join(workDir, `host-${i}.log`),
    )
    hosts.push({ child, hostname: '', sent: 0, lagMs: 0, maxLagMs: 0 })
  }
  await Promise.all(
    hosts.map(async (h, i) => {
      try {
        h.hostname = (await nextMessage<{ type: string; hostname: string }>(h.child, 'ready', 300_000)).hostname
      } catch (err) {
        throw new Error(`host ${i}: ${(err as Error).message}\n${logTail(path.join(workDir, `host-${i}.log`))}`)
      }
    }),
  )
  for (const h of hosts) {
    const subscribed = nextMessage(h.child, 'subscribed', 60_000)
    await post(`${relay.url}/xrpc/com.atproto.sync.requestCrawl`, { hostname: h.hostname })
    await subscribed
  }
  for (const h of hosts) h.child.send({ type: 'announce' })
  await Promise.all(hosts.map((h) => nextMessage(h.child, 'announced')))
  const totalDids = hostCount * didsPerHost
  // pre-flight: every announced repo is verified and relayed, nothing dropped — else signing a
  // million commits the relay refuses would be minutes wasted
  const adminHeaders = { authorization: `Basic ${Buffer.from(`admin:${ADMIN}`).toString('base64')}` }
  const relayCounters = async () => {
    const { hosts: list } = (await getJson(`${relay.url}/admin/hosts`, adminHeaders)) as { hosts: { eventsRelayed: number; dropped: Record<string, number> }[] }
    const dropped: Record<string, number> = {}
    for (const h of list) for (const [k, v] of Object.entries(h.dropped)) if (v > 0) dropped[k] = (dropped[k] ?? 0) + v
    return { relayed: list.reduce((n, h) => n + h.eventsRelayed, 0), dropped }
  }
  for (let t = 0; ; t++) {
    const c = await relayCounters()
    if (Object.keys(c.dropped).length > 0) throw new Error(`the relay drops the synthetic repos: ${JSON.stringify(c.dropped)}\n${logTail(relay.logFile)}`)
    if (c.relayed >= totalDids) break
    if (t > 600) throw new Error(`the relay relayed ${c.relayed} of ${totalDids} #sync announcements after 60 s\n${logTail(relay.logFile)}`)
    await sleep(100)
  }
  progress(`relay verified and relayed all ${totalDids} repo announcements`)

  // -- pre-generation
  const perHostRate = rate / hostCount
  const perHostEvents = Math.ceil(perHostRate * (warmup + duration))
  const tBase = nowMicros()
  progress(`pre-generating ${(perHostEvents * hostCount).toLocaleString('en-US')} signed commits (${hostCount} x ${perHostEvents.toLocaleString('en-US')})`)
  const generated = new Array<number>(hostCount).fill(0)
  const genTimer = setInterval(() => {
    const total = generated.reduce((a, b) => a + b, 0)
    progress(`  generated ${total.toLocaleString('en-US')} (${((100 * total) / (perHostEvents * hostCount)).toFixed(0)}%)`)
  }, 10_000)
  hosts.forEach((h, i) =>
    h.child.on('message', (m: { type: string; generated?: number; sent?: number; lagMs?: number; maxLagMs?: number }) => {
      if (m.type === 'progress') generated[i] = m.generated ?? 0
      if (m.type === 'sent') {
        h.sent = m.sent ?? 0
        h.lagMs = m.lagMs ?? 0
        h.maxLagMs = m.maxLagMs ?? 0
      }
    }),
  )
  const genStart = Date.now()
  for (const h of hosts) h.child.send({ type: 'pregen', tBase, rate: perHostRate, events: perHostEvents })
  const gen = await Promise.all(hosts.map((h) => nextMessage<{ type: string; bytes: number }>(h.child, 'pregenerated', 3_600_000)))
  clearInterval(genTimer)
  const genSeconds = (Date.now() - genStart) / 1000
  const frameBytes = gen.reduce((s, g) => s + g.bytes, 0) / (perHostEvents * hostCount)
  progress(`pre-generated in ${genSeconds.toFixed(0)} s (${frameBytes.toFixed(0)} bytes per frame)`)

  // -- consumers
  const consumers = startWorker(
    path.join(repoRoot, 'scripts/bench/relay-lib/consumers.ts'),
    flags.jetstream
      ? ['--url', `${relay.url.replace(/^http/, 'ws')}/subscribe`, '--n', String(consumerCount), '--jetstream']
      : ['--url', `${relay.url.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos`, '--n', String(consumerCount)],
    path.join(workDir, 'consumers.log'),
  )
  await nextMessage(consumers, 'connected', 30_000)
  /** the slowest consumer's frame count, and the latency p99 since the last call */
  const consumerFrames = async (): Promise<{ frames: number; p99Ms: number }> => {
    const reply = nextMessage<{ type: string; frames: number[]; p99Ms: number }>(consumers, 'count', 10_000)
    consumers.send({ type: 'count' })
    const r = await reply
    return { frames: Math.min(...r.frames), p99Ms: r.p99Ms }
  }

  // -- run
  const t0 = nowMicros() + 1_000_000
  consumers.send({ type: 'start', offsetMicros: t0 - tBase })
  for (const h of hosts) h.child.send({ type: 'go', t0 })
  progress(`streaming ${rate.toLocaleString('en-US')} events/s: ${warmup} s warm-up, then ${duration} s measured`)
  await sleep((t0 - nowMicros()) / 1000 + warmup * 1000)
  consumers.send({ type: 'reset' })
  const sentAt = () => hosts.reduce((s, h) => s + h.sent, 0)
  const startSent = sentAt()
  const startCpu = cpuSeconds(relay.pid) ?? 0
  const workerCpu = () => ({
    hosts: hosts.reduce((n, h) => n + (cpuSeconds(h.child.pid!) ?? 0), 0),
    consumers: cpuSeconds(consumers.pid!) ?? 0,
  })
  const startWorkerCpu = workerCpu()
  const relayLatency = async (): Promise<Histogram | null> => {
    try {
      const r = (await getJson(`${relay.url}/admin/latency`, adminHeaders)) as { buckets: [number, number][]; maxMs: number | null }
      return Histogram.fromSparse(r.buckets, (r.maxMs ?? 0) * 1000)
    } catch (err) {
      progress(`could not read /admin/latency: ${(err as Error).message}`)
      return null
    }
  }
  const startLatency = await relayLatency()
  const startWall = Date.now()
  const samples: Sample[] = []
  const sampleEvery = Math.max(1, Math.min(30, Math.round(duration / 20)))
  let lastSample = { t: startWall, frames: 0, cpu: startCpu }
  samples.push({ t: 0, rssMiB: rssMiB(relay.pid) ?? Number.NaN, eventsPerSec: Number.NaN, cpuCores: Number.NaN, p99Ms: Number.NaN })
  while (!interrupted && Date.now() - startWall < duration * 1000) {
    await sleep(Math.min(sampleEvery * 1000, duration * 1000 - (Date.now() - startWall)))
    const { frames, p99Ms } = await consumerFrames()
    const now = Date.now()
    const cpu = cpuSeconds(relay.pid) ?? Number.NaN
    const dt = (now - lastSample.t) / 1000
    samples.push({
      t: (now - startWall) / 1000,
      rssMiB: rssMiB(relay.pid) ?? Number.NaN,
      eventsPerSec: (frames - lastSample.frames) / dt,
      cpuCores: (cpu - lastSample.cpu) / dt,
      p99Ms,
    })
    progress(`  t=${((now - startWall) / 1000).toFixed(0)}s relay RSS ${samples[samples.length - 1].rssMiB.toFixed(0)} MiB, ${((frames - lastSample.frames) / dt).toFixed(0)} events/s per consumer`)
    lastSample = { t: now, frames, cpu }
  }
  const wall = (Date.now() - startWall) / 1000
  const endCpu = cpuSeconds(relay.pid) ?? Number.NaN
  const endWorkerCpu = workerCpu()
  const sent = sentAt() - startSent
  const endLatency = await relayLatency()
  const ownLatency = startLatency && endLatency ? endLatency.since(startLatency) : null
  const reportMsg = nextMessage<{ type: string; frames: number[]; bytes: number[]; cut: (string | null)[]; errors: string[]; hist: { counts: Float64Array; max: number } }>(consumers, 'report', 30_000)
  consumers.send({ type: 'report' })
  const report = await reportMsg
  const hist = new Histogram(report.hist.counts)
  hist.max = report.hist.max

  let dropped: Record<string, number> = {}
  let relayed = 0
  try {
    ;({ dropped, relayed } = await relayCounters())
  } catch (err) {
    progress(`could not read /admin/hosts: ${(err as Error).message}`)
  }

  console.log(
    formatReport({
      hosts: hostCount,
      dids: totalDids,
      consumers: consumerCount,
      rate,
      warmup,
      duration: wall,
      sent,
      framesPerConsumer: report.frames,
      bytesPerConsumer: report.bytes,
      cut: report.cut,
      errors: report.errors,
      hist,
      ownLatency,
      relayCpuSeconds: endCpu - startCpu,
      hostsCpuSeconds: endWorkerCpu.hosts - startWorkerCpu.hosts,
      consumersCpuSeconds: endWorkerCpu.consumers - startWorkerCpu.consumers,
      samples,
      maxHostLagMs: Math.max(...hosts.map((h) => h.maxLagMs)),
      dropped,
      relayedTotal: relayed,
      frameBytes,
      pregenSeconds: genSeconds,
      cpus: os.cpus().length,
    }),
  )

  if (Object.keys(dropped).length > 0 || report.cut.some((c) => c !== null)) {
    keepForInspection = true
    progress(`relay log tail:\n${logTail(relay.logFile, 15)}`)
  }
  consumers.send({ type: 'stop' })
  for (const h of hosts) h.child.send({ type: 'stop' })
  await Promise.all([stop(consumers), ...hosts.map((h) => stop(h.child)), stop(relay.child), stop(plc.child)])
} catch (err) {
  console.error(`[bench:relay] failed: ${(err as Error).stack ?? err}`)
  process.exitCode = 1
  await stopAll()
} finally {
  if (flags.keep || flags.profile || keepForInspection || process.exitCode) progress(`kept ${workDir}`)
  else fs.rmSync(workDir, { recursive: true, force: true })
}
