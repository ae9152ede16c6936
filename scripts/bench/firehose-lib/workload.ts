// The write→event workloads: one account writes posts with createRecord at a
// fixed pause after each response while a live subscriber waits for the
// `#commit` carrying each one. The next write does not wait for the event.
import { setTimeout as sleep } from 'node:timers/promises'
import { percentile } from '../lib/stats.ts'
import { POST } from '../lib/workload.ts'
import type { Session, XrpcClient } from '../lib/xrpc.ts'
import { commitKey, type CommitArrival, type FirehoseSubscriber } from './subscriber.ts'

export type Workload = { name: string; writes: number; gapMs: number }

export type Counts = { warmupWrites: number; steady: Workload; sparse: Workload }

export const FULL: Counts = {
  warmupWrites: 50,
  steady: { name: 'steady', writes: 500, gapMs: 5 },
  // 100 rather than fewer: with nearest-rank p99 over 60 samples, p99 would be the max
  sparse: { name: 'sparse', writes: 100, gapMs: 300 },
}

export const QUICK: Counts = {
  warmupWrites: 20,
  steady: { name: 'steady', writes: 100, gapMs: 5 },
  sparse: { name: 'sparse', writes: 20, gapMs: 300 },
}

/** After the last write, how long an event still outstanding may take before it counts as missed. */
const DRAIN_MS = 10_000

export type Spread = { count: number; p50: number; p90: number; p99: number; max: number }

export const spread = (samples: readonly number[]): Spread => ({
  count: samples.length,
  p50: percentile(samples, 50),
  p90: percentile(samples, 90),
  p99: percentile(samples, 99),
  max: percentile(samples, 100),
})

export type WorkloadResult = {
  /** event arrival − request sent */
  fromRequest: Spread
  /** event arrival − response body read; negative when the event came first */
  fromResponse: Spread
  /** createRecord round trip, for context */
  roundTrip: Spread
  /** share of writes whose event arrived before their HTTP response */
  eventFirstShare: number
  /** writes per second achieved (first request to last response) */
  writesPerSec: number
  /** writes whose event never arrived */
  missed: number
  /** events whose rev differs from the rev createRecord returned */
  revMismatches: number
  elapsedMs: number
}

type CreateRecordOutput = { uri: string; cid: string; commit?: { cid: string; rev: string } }

type Write = { sentAt: number; answeredAt: number; rev?: string; arrival: Promise<CommitArrival | undefined> }

const post = (n: number) => ({
  $type: POST,
  text: `firehose benchmark post ${n}`,
  createdAt: new Date().toISOString(),
})

/** `path` of an at:// URI: "<collection>/<rkey>". */
const pathOf = (uri: string): string => uri.split('/').slice(-2).join('/')

/** Runs one workload and collects its latencies; throws if the subscription closes or every event is missed. */
export const runWorkload = async (
  client: XrpcClient,
  s: Session,
  sub: FirehoseSubscriber,
  w: { writes: number; gapMs: number },
): Promise<WorkloadResult> => {
  sub.clearUnclaimed()
  const started = performance.now()
  const writes: Write[] = []
  let lastWriteAt = started
  for (let i = 0; i < w.writes; i++) {
    if (!sub.isOpen) throw new Error(`subscription closed after ${i} writes: ${sub.problems.join('; ')}`)
    const sentAt = performance.now()
    const out = await client.procedure<CreateRecordOutput>(
      'com.atproto.repo.createRecord',
      { repo: s.did, collection: POST, record: post(i) },
      s.accessJwt,
    )
    const answeredAt = performance.now()
    lastWriteAt = answeredAt
    // registered now; resolves when the event comes (or already has), or at the drain deadline
    const arrival = sub.waitFor(commitKey(s.did, pathOf(out.uri)))
    writes.push({ sentAt, answeredAt, rev: out.commit?.rev, arrival })
    if (i < w.writes - 1) await sleep(w.gapMs)
  }
  // events still outstanding DRAIN_MS after the last response count as missed
  const drain = new AbortController()
  void sleep(Math.max(0, lastWriteAt + DRAIN_MS - performance.now()), undefined, { signal: drain.signal }).then(
    () => sub.abandonWaiters(),
    () => {},
  )
  const arrivals = await Promise.all(writes.map((x) => x.arrival))
  drain.abort()
  const elapsedMs = performance.now() - started

  const fromRequest: number[] = []
  const fromResponse: number[] = []
  const roundTrip: number[] = []
  let missed = 0
  let revMismatches = 0
  let eventFirst = 0
  writes.forEach((x, i) => {
    roundTrip.push(x.answeredAt - x.sentAt)
    const a = arrivals[i]
    if (!a) {
      missed++
      return
    }
    fromRequest.push(a.at - x.sentAt)
    fromResponse.push(a.at - x.answeredAt)
    if (a.at < x.answeredAt) eventFirst++
    if (x.rev !== undefined && a.rev !== x.rev) revMismatches++
  })
  sub.clearUnclaimed()
  if (fromRequest.length === 0) throw new Error(`none of ${w.writes} writes reached the firehose: ${sub.problems.join('; ')}`)
  return {
    fromRequest: spread(fromRequest),
    fromResponse: spread(fromResponse),
    roundTrip: spread(roundTrip),
    eventFirstShare: eventFirst / fromRequest.length,
    writesPerSec: (w.writes * 1000) / (lastWriteAt - started),
    missed,
    revMismatches,
    elapsedMs,
  }
}
