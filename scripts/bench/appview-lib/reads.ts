// Read latency with the index full, one request at a time (client on the same
// machine, plain fetch, timed from send to the whole body read). Viewers
// authenticate with service JWTs (iss = viewer, aud = the app view's DID,
// lxm = the method), minted once per viewer and method. Every response must
// be a 200 with content (a timeline page with items, page 2 disjoint from
// page 1, a thread with replies, a profile with the handle the DID document
// claims); anything else is counted as an error and not timed.
//
//   timeline light: viewers following 10–50 accounts · timeline heavy: viewers
//   following > 5,000 (at small scales, the most-following viewers) · pages 1
//   and 2 (cursor) of each · getPostThread on posts with replies (the
//   hottest threads and random ones) · getProfile of random accounts.
import { percentile } from '../lib/stats.ts'
import type { FrameEncoder } from './encode.ts'
import { serviceJwt, type Account } from './identities.ts'
import { rng, type Plan } from './plan.ts'

export type Latency = { n: number; p50: number; p99: number; mean: number; errors: number; firstError?: string; note?: string }

const summary = (ms: number[], errors: string[], note?: string): Latency => ({
  n: ms.length,
  p50: percentile(ms, 50),
  p99: percentile(ms, 99),
  mean: ms.reduce((a, b) => a + b, 0) / (ms.length || 1),
  errors: errors.length,
  ...(errors.length ? { firstError: errors[0] } : {}),
  ...(note ? { note } : {}),
})

/** Requests of each kind sent before timing starts (JIT, SQLite page cache). */
const WARMUP = 3

type Got = { ms: number; status: number; body: any }

const get = async (url: string, token?: string): Promise<Got> => {
  const t = performance.now()
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(60_000) })
  const text = await res.text()
  const ms = performance.now() - t
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // left as text for the error message
  }
  return { ms, status: res.status, body }
}

/** Picks the benchmark's viewers and read targets from the plan. */
export const readTargets = (plan: Plan, count = 10) => {
  const rand = rng(7)
  const n = plan.params.accounts
  const byFollows = [...Array(n).keys()].sort((a, b) => plan.followCount[b] - plan.followCount[a])
  const light = byFollows.filter((i) => plan.followCount[i] >= 10 && plan.followCount[i] <= 50)
  const lightPick = light.length >= count ? Array.from({ length: count }, (_, k) => light[Math.floor((k * light.length) / count)]) : byFollows.slice(-count)
  const heavyAll = byFollows.filter((i) => plan.followCount[i] > 5000)
  const heavyPick = (heavyAll.length >= count ? heavyAll : byFollows).slice(0, count)
  const withReplies = [...Array(plan.params.posts).keys()].filter((p) => plan.replyCount[p] > 0)
  withReplies.sort((a, b) => plan.replyCount[b] - plan.replyCount[a])
  const threads = [...withReplies.slice(0, 20), ...Array.from({ length: 30 }, () => withReplies[Math.floor(rand() * withReplies.length)])]
  const profiles = Array.from({ length: 100 }, () => Math.floor(rand() * n))
  return { light: lightPick, heavy: heavyPick, threads, profiles, heavyIsReal: heavyAll.length > 0 }
}

export type ReadResults = {
  timelineLight1: Latency
  timelineLight2: Latency
  timelineHeavy1: Latency
  timelineHeavy2: Latency
  thread: Latency
  profile: Latency
  lightFollows: number[]
  heavyFollows: number[]
}

export const measureReads = async (opts: {
  url: string
  aud: string
  plan: Plan
  enc: FrameEncoder
  accounts: Account[]
  rounds: number
  /** per kind of request, stop early past this much wall time */
  budgetMs: number
  log: (m: string) => void
}): Promise<ReadResults> => {
  const { url, aud, plan, enc, accounts } = opts
  const targets = readTargets(plan)
  const tokens = new Map<string, string>()
  const token = async (i: number, lxm: string) => {
    const k = `${i} ${lxm}`
    let t = tokens.get(k)
    if (!t) tokens.set(k, (t = await serviceJwt(accounts[i], aud, lxm)))
    return t
  }

  const timeline = async (viewers: number[], label: string) => {
    const p1: number[] = []
    const p2: number[] = []
    const errors: string[] = []
    const started = performance.now()
    const lxm = 'app.bsky.feed.getTimeline'
    let done = 0
    for (let r = 0; r < opts.rounds && performance.now() - started < opts.budgetMs; r++) {
      for (const v of viewers) {
        if (performance.now() - started > opts.budgetMs) break
        const tok = await token(v, lxm)
        const a = await get(`${url}/xrpc/${lxm}?limit=50`, tok)
        if (a.status !== 200 || !(a.body.feed?.length > 0) || !a.body.cursor) {
          errors.push(`page 1 for ${accounts[v].did}: ${a.status} ${JSON.stringify(a.body).slice(0, 200)}`)
          continue
        }
        const b = await get(`${url}/xrpc/${lxm}?limit=50&cursor=${encodeURIComponent(a.body.cursor)}`, tok)
        const first = new Set(a.body.feed.map((f: any) => f.post.uri + (f.reason?.uri ?? '')))
        if (b.status !== 200 || !(b.body.feed?.length > 0) || b.body.feed.some((f: any) => first.has(f.post.uri + (f.reason?.uri ?? '')))) {
          errors.push(`page 2 for ${accounts[v].did}: ${b.status} ${JSON.stringify(b.body).slice(0, 200)}`)
          continue
        }
        if (done++ < WARMUP) continue
        p1.push(a.ms)
        p2.push(b.ms)
      }
    }
    opts.log(`  ${label}: ${p1.length} page pairs, p50 ${percentile(p1, 50).toFixed(1)} / ${percentile(p2, 50).toFixed(1)} ms, ${errors.length} errors`)
    return [summary(p1, errors), summary(p2, errors)] as const
  }

  const [timelineLight1, timelineLight2] = await timeline(targets.light, 'timeline, light followers')
  const [timelineHeavy1, timelineHeavy2] = await timeline(targets.heavy, 'timeline, heavy followers')

  const thread = await (async () => {
    const ms: number[] = []
    const errors: string[] = []
    const started = performance.now()
    const lxm = 'app.bsky.feed.getPostThread'
    const viewer = targets.light[0]
    let done = 0
    for (let r = 0; r < opts.rounds && performance.now() - started < opts.budgetMs; r++) {
      for (const p of targets.threads) {
        const a = await get(`${url}/xrpc/${lxm}?uri=${encodeURIComponent(enc.postUri(p))}`, await token(viewer, lxm))
        if (a.status !== 200 || !(a.body.thread?.replies?.length > 0)) {
          errors.push(`${enc.postUri(p)}: ${a.status} ${JSON.stringify(a.body).slice(0, 200)}`)
          continue
        }
        if (done++ >= WARMUP) ms.push(a.ms)
      }
    }
    opts.log(`  getPostThread: ${ms.length}, p50 ${percentile(ms, 50).toFixed(1)} ms, ${errors.length} errors`)
    return summary(ms, errors)
  })()

  const profile = await (async () => {
    const ms: number[] = []
    const errors: string[] = []
    const started = performance.now()
    const lxm = 'app.bsky.actor.getProfile'
    const viewer = targets.light[0]
    let done = 0
    for (let r = 0; r < opts.rounds && performance.now() - started < opts.budgetMs; r++) {
      for (const i of targets.profiles) {
        const a = await get(`${url}/xrpc/${lxm}?actor=${encodeURIComponent(accounts[i].did)}`, await token(viewer, lxm))
        if (a.status !== 200 || a.body.handle !== accounts[i].handle || typeof a.body.followersCount !== 'number') {
          errors.push(`${accounts[i].did}: ${a.status} ${JSON.stringify(a.body).slice(0, 200)}`)
          continue
        }
        if (done++ >= WARMUP) ms.push(a.ms)
      }
    }
    opts.log(`  getProfile: ${ms.length}, p50 ${percentile(ms, 50).toFixed(1)} ms, ${errors.length} errors`)
    return summary(ms, errors)
  })()

  return {
    timelineLight1,
    timelineLight2,
    timelineHeavy1,
    timelineHeavy2,
    thread,
    profile,
    lightFollows: targets.light.map((i) => plan.followCount[i]),
    heavyFollows: targets.heavy.map((i) => plan.followCount[i]),
  }
}
