// The measured workloads. Each takes a client for one server and returns raw
// figures; none knows which server it is talking to.
import { median, summarize, timer, type LatencySummary } from './stats.ts'
import { XrpcClient, type Session } from './xrpc.ts'

export const POST = 'app.bsky.feed.post'

export type Counts = {
  warmupOps: number
  sequentialWrites: number
  concurrentAccounts: number
  writesPerAccount: number
  getRecordReads: number
  getRepoRecords: number
  getRepoRuns: number
}

/**
 * The full run. Sequential writes are measured after 500 warm-up writes, over
 * 2,000 writes: a server's first few hundred requests run code V8 has not yet
 * optimised. Measured on our PDS (2026-12-03, one account), server CPU a write
 * was 1,560–1,600 µs over writes 100–600 against 990–1,300 over writes
 * 100–3,100 or 500–3,500. The earlier 100 + 500 measured partly that warm-up,
 * in under a second, so one stall moved the figure. Both servers get the
 * same counts.
 */
export const FULL: Counts = {
  warmupOps: 500,
  sequentialWrites: 2_000,
  concurrentAccounts: 10,
  writesPerAccount: 50,
  getRecordReads: 1_000,
  getRepoRecords: 2_000,
  getRepoRuns: 7,
}

export const QUICK: Counts = {
  warmupOps: 30,
  sequentialWrites: 100,
  concurrentAccounts: 10,
  writesPerAccount: 10,
  getRecordReads: 200,
  getRepoRecords: 500,
  getRepoRuns: 3,
}

export type Throughput = { writesPerSec: number; elapsedMs: number; latency: LatencySummary }

const post = (n: number) => ({
  $type: POST,
  text: `benchmark post ${n}: the quick brown fox jumps over the lazy dog`,
  createdAt: new Date().toISOString(),
})

type CreateRecordOutput = { uri: string; cid: string }

const rkeyOf = (uri: string): string => uri.slice(uri.lastIndexOf('/') + 1)

/** One createRecord, timed end to end (request sent → response body read). */
const timedCreate = async (client: XrpcClient, s: Session, n: number): Promise<{ ms: number; uri: string }> => {
  const elapsed = timer()
  const out = await client.procedure<CreateRecordOutput>(
    'com.atproto.repo.createRecord',
    { repo: s.did, collection: POST, record: post(n) },
    s.accessJwt,
  )
  return { ms: elapsed(), uri: out.uri }
}

/** `n` createRecord calls, one after another, by one account. */
const writeLoop = async (client: XrpcClient, s: Session, n: number): Promise<{ latencies: number[]; uris: string[] }> => {
  const latencies: number[] = []
  const uris: string[] = []
  for (let i = 0; i < n; i++) {
    const { ms, uri } = await timedCreate(client, s, i)
    latencies.push(ms)
    uris.push(uri)
  }
  return { latencies, uris }
}

/** A few writes and reads of every kind, so JIT, caches and connection pools are warm before timing. */
export const warmUp = async (client: XrpcClient, s: Session, ops: number): Promise<void> => {
  const { uris } = await writeLoop(client, s, ops)
  for (const uri of uris) {
    await client.query('com.atproto.repo.getRecord', { repo: s.did, collection: POST, rkey: rkeyOf(uri) })
  }
  await client.queryBytes('com.atproto.sync.getRepo', { did: s.did })
}

export const sequentialWrites = async (
  client: XrpcClient,
  s: Session,
  n: number,
): Promise<Throughput & { uris: string[] }> => {
  const elapsed = timer()
  const { latencies, uris } = await writeLoop(client, s, n)
  const ms = elapsed()
  return { writesPerSec: (n * 1000) / ms, elapsedMs: ms, latency: summarize(latencies), uris }
}

/** One sequential write loop per account, all loops in flight at once. */
export const concurrentWrites = async (client: XrpcClient, sessions: Session[], perAccount: number): Promise<Throughput> => {
  const elapsed = timer()
  const results = await Promise.all(sessions.map((s) => writeLoop(client, s, perAccount)))
  const ms = elapsed()
  const total = sessions.length * perAccount
  return { writesPerSec: (total * 1000) / ms, elapsedMs: ms, latency: summarize(results.flatMap((r) => r.latencies)) }
}

/** `n` sequential getRecord calls cycling over existing records. */
export const getRecordReads = async (client: XrpcClient, did: string, uris: string[], n: number): Promise<LatencySummary> => {
  if (uris.length === 0) throw new Error('getRecord: no records to read')
  const latencies: number[] = []
  for (let i = 0; i < n; i++) {
    const uri = uris[i % uris.length]!
    const elapsed = timer()
    const out = await client.query<{ uri: string }>('com.atproto.repo.getRecord', {
      repo: did,
      collection: POST,
      rkey: rkeyOf(uri),
    })
    latencies.push(elapsed())
    if (out.uri !== uri) throw new Error(`getRecord returned ${out.uri} for ${uri}`)
  }
  return summarize(latencies)
}

/** Fills an account's repo to `n` posts with applyWrites batches of 200 (not timed). */
export const fillRepo = async (client: XrpcClient, s: Session, n: number): Promise<void> => {
  const BATCH = 200
  for (let done = 0; done < n; done += BATCH) {
    const size = Math.min(BATCH, n - done)
    const writes = Array.from({ length: size }, (_, i) => ({
      $type: 'com.atproto.repo.applyWrites#create',
      collection: POST,
      value: post(done + i),
    }))
    await client.procedure('com.atproto.repo.applyWrites', { repo: s.did, writes }, s.accessJwt)
  }
}

export type GetRepoResult = { medianMs: number; runsMs: number[]; carBytes: number }

/** One untimed getRepo, then `runs` timed ones; each timing includes reading the whole CAR. */
export const getRepoRuns = async (client: XrpcClient, did: string, runs: number): Promise<GetRepoResult> => {
  const first = await client.queryBytes('com.atproto.sync.getRepo', { did })
  if (!first.contentType.startsWith('application/vnd.ipld.car')) {
    throw new Error(`getRepo answered content-type ${first.contentType}, expected application/vnd.ipld.car`)
  }
  const runsMs: number[] = []
  for (let i = 0; i < runs; i++) {
    const elapsed = timer()
    await client.queryBytes('com.atproto.sync.getRepo', { did })
    runsMs.push(elapsed())
  }
  return { medianMs: median(runsMs), runsMs, carBytes: first.bytes.byteLength }
}
