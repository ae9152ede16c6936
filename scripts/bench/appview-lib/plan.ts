// The synthetic network of the app view benchmark, planned deterministically
// from (scale, seed) so every process that needs it (the generator workers,
// the orchestrator choosing viewers) computes the same one without passing
// millions of rows around. Only integers here: who does what, in which order.
//
// At scale 1: 10,000 accounts; 1,000,000 posts (authors power-law, 15% of
// them replies to a recent post); follows averaging 200 per account with a
// power-law out-degree (a few dozen accounts follow more than 5,000, the
// tail follows ~30–50) and power-law popularity of who is followed;
// 5,000,000 likes and 250,000 reposts of recent posts by power-law-active
// accounts; a profile for 90% of accounts. Stream order: one genesis commit
// per account (its profile, or nothing), then all activity shuffled in time,
// each like/repost/reply after the post it names (40% of replies go to one
// of 50 recent "hot" threads, so some threads are large). One record per commit.

export const GENESIS = 0
export const POST = 1
export const FOLLOW = 2
export const LIKE = 3
export const REPOST = 4

export type PlanParams = {
  accounts: number
  posts: number
  followsPerAccount: number
  likes: number
  reposts: number
  replyShare: number
  profileShare: number
}

/**
 * Everything × scale. `accounts` overrides the account count and keeps the
 * total of follows (2 M × scale), so a reduced run can keep 10,000 accounts
 * and with them viewers following more than 5,000.
 */
export const paramsForScale = (scale: number, accounts?: number): PlanParams => ({
  accounts: accounts ?? Math.max(20, Math.round(10_000 * scale)),
  posts: Math.max(100, Math.round(1_000_000 * scale)),
  followsPerAccount: accounts ? (200 * Math.max(20, Math.round(10_000 * scale))) / accounts : 200,
  likes: Math.round(5_000_000 * scale),
  reposts: Math.round(250_000 * scale),
  replyShare: 0.15,
  profileShare: 0.9,
})

export type Plan = {
  params: PlanParams
  /** events in stream order */
  events: number
  type: Uint8Array
  actor: Uint32Array
  /** post: its post index · follow: subject account · like/repost: subject post index · genesis: 1 with a profile */
  arg: Uint32Array
  /** previous event of the same account (-1 for its genesis) */
  prev: Int32Array
  postEvent: Uint32Array
  postParent: Int32Array
  postRoot: Int32Array
  followCount: Uint32Array
  replyCount: Uint32Array
}

/** xorshift128+ style PRNG (deterministic, fast); returns [0, 1). */
export const rng = (seed: number) => {
  let a = seed >>> 0 || 1
  let b = (seed * 2654435761) >>> 0 || 2
  let c = 0x9e3779b9
  let d = 0x7f4a7c15
  return (): number => {
    // sfc32
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
}

const shuffle = (arr: { length: number; [i: number]: number }, rand: () => number): void => {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    const t = arr[i]
    arr[i] = arr[j]
    arr[j] = t
  }
}

const permutation = (n: number, rand: () => number): Uint32Array => {
  const p = new Uint32Array(n)
  for (let i = 0; i < n; i++) p[i] = i
  shuffle(p, rand)
  return p
}

/** Vose's alias table over `weights`: O(1) draws. */
const aliasSampler = (weights: Float64Array, rand: () => number): (() => number) => {
  const n = weights.length
  const sum = weights.reduce((a, b) => a + b, 0)
  const prob = new Float64Array(n)
  const alias = new Uint32Array(n)
  const scaled = weights.map((w) => (w * n) / sum)
  const small: number[] = []
  const large: number[] = []
  scaled.forEach((s, i) => (s < 1 ? small : large).push(i))
  while (small.length && large.length) {
    const s = small.pop()!
    const l = large.pop()!
    prob[s] = scaled[s]
    alias[s] = l
    scaled[l] = scaled[l] + scaled[s] - 1
    ;(scaled[l] < 1 ? small : large).push(l)
  }
  for (const i of [...small, ...large]) prob[i] = 1
  return () => {
    const i = Math.floor(rand() * n)
    return rand() < prob[i] ? i : alias[i]
  }
}

/** Zipf-like weights rank^-s, assigned to accounts through a random permutation. */
const zipfWeights = (n: number, s: number, rand: () => number): Float64Array => {
  const perm = permutation(n, rand)
  const w = new Float64Array(n)
  for (let r = 0; r < n; r++) w[perm[r]] = 1 / Math.pow(r + 1, s)
  return w
}

/** Out-degrees with mean `avg`: a floor of 10, plus A/rank, capped at n-1. */
const outDegrees = (n: number, avg: number, rand: () => number): Uint32Array => {
  const ALPHA = 1
  const FLOOR = Math.min(10, Math.floor(avg / 4))
  const total = (A: number) => {
    let s = 0
    for (let r = 1; r <= n; r++) s += Math.min(n - 1, FLOOR + Math.floor(A * Math.pow(r, -ALPHA)))
    return s
  }
  let lo = 0
  let hi = n * avg
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2
    if (total(mid) < n * avg) lo = mid
    else hi = mid
  }
  const perm = permutation(n, rand)
  const d = new Uint32Array(n)
  for (let r = 1; r <= n; r++) d[perm[r - 1]] = Math.min(n - 1, FLOOR + Math.floor(hi * Math.pow(r, -ALPHA)))
  return d
}

/** A post index among the first `n`, biased to the most recent. */
const recentPost = (n: number, rand: () => number): number => n - 1 - Math.floor(n * Math.pow(rand(), 3))

export const makePlan = (params: PlanParams, seed = 1): Plan => {
  const rand = rng(seed)
  const n = params.accounts
  // follows: exact out-degree per account, subjects by popularity
  const degree = outDegrees(n, params.followsPerAccount, rand)
  const popular = aliasSampler(zipfWeights(n, 0.9, rand), rand)
  let follows = 0
  for (const d of degree) follows += d
  const followFrom = new Uint32Array(follows)
  const followTo = new Uint32Array(follows)
  {
    let k = 0
    const scratch = permutation(n, rand)
    const chosen = new Set<number>()
    for (let i = 0; i < n; i++) {
      const d = degree[i]
      if (d > n / 3) {
        // partial Fisher-Yates over everyone but self
        let m = 0
        for (let j = 0; m < d; j++) {
          const r = j + Math.floor(rand() * (n - j))
          const t = scratch[j]
          scratch[j] = scratch[r]
          scratch[r] = t
          if (scratch[j] === i) continue
          followFrom[k] = i
          followTo[k++] = scratch[j]
          m++
        }
      } else {
        chosen.clear()
        let tries = 0
        while (chosen.size < d) {
          const s = tries++ < d * 20 ? popular() : Math.floor(rand() * n)
          if (s === i || chosen.has(s)) continue
          chosen.add(s)
          followFrom[k] = i
          followTo[k++] = s
        }
      }
    }
  }
  const followOrder = permutation(follows, rand)

  // activity slots, shuffled; the first is a post so every like/repost/reply has one before it
  const slots = params.posts + follows + params.likes + params.reposts
  const slotType = new Uint8Array(slots)
  slotType.fill(POST, 0, params.posts)
  slotType.fill(FOLLOW, params.posts, params.posts + follows)
  slotType.fill(LIKE, params.posts + follows, params.posts + follows + params.likes)
  slotType.fill(REPOST, params.posts + follows + params.likes)
  shuffle(slotType, rand)
  const firstPost = slotType.indexOf(POST)
  slotType[firstPost] = slotType[0]
  slotType[0] = POST

  const author = aliasSampler(zipfWeights(n, 1.0, rand), rand)
  const liker = aliasSampler(zipfWeights(n, 0.8, rand), rand)

  const events = n + slots
  const type = new Uint8Array(events)
  const actor = new Uint32Array(events)
  const arg = new Uint32Array(events)
  const prev = new Int32Array(events)
  const postEvent = new Uint32Array(params.posts)
  const postParent = new Int32Array(params.posts).fill(-1)
  const postRoot = new Int32Array(params.posts).fill(-1)
  const replyCount = new Uint32Array(params.posts)
  const last = new Int32Array(n).fill(-1)
  const push = (e: number, t: number, a: number, x: number) => {
    type[e] = t
    actor[e] = a
    arg[e] = x
    prev[e] = last[a]
    last[a] = e
  }
  for (let i = 0; i < n; i++) push(i, GENESIS, i, rand() < params.profileShare ? 1 : 0)
  let posts = 0
  let f = 0
  // a few hot threads (1 top-level post in 500) draw 40% of replies, so some threads are large
  const hot: number[][] = []
  for (let s = 0; s < slots; s++) {
    const e = n + s
    switch (slotType[s]) {
      case POST: {
        const p = posts++
        postEvent[p] = e
        if (p > 0 && rand() < params.replyShare) {
          let parent = recentPost(p, rand)
          if (hot.length > 0 && rand() < 0.4) {
            const thread = hot[Math.floor(rand() * hot.length)]
            parent = rand() < 0.5 ? thread[0] : thread[Math.floor(rand() * thread.length)]
            thread.push(p)
          }
          postParent[p] = parent
          postRoot[p] = postRoot[parent] >= 0 ? postRoot[parent] : parent
          replyCount[parent]++
        } else if (rand() < 0.002) {
          hot.push([p])
          if (hot.length > 50) hot.shift()
        }
        push(e, POST, author(), p)
        break
      }
      case FOLLOW: {
        const j = followOrder[f++]
        push(e, FOLLOW, followFrom[j], followTo[j])
        break
      }
      default:
        push(e, slotType[s], liker(), recentPost(posts, rand))
    }
  }
  return { params, events, type, actor, arg, prev, postEvent, postParent, postRoot, followCount: degree, replyCount }
}

/** Record counts by kind, for the report. */
export const planCounts = (p: Plan): Record<string, number> => {
  const c = { genesis: 0, profiles: 0, posts: 0, replies: 0, follows: 0, likes: 0, reposts: 0 }
  for (let e = 0; e < p.events; e++) {
    const t = p.type[e]
    if (t === GENESIS) {
      c.genesis++
      if (p.arg[e]) c.profiles++
    } else if (t === POST) {
      c.posts++
      if (p.postParent[p.arg[e]] >= 0) c.replies++
    } else if (t === FOLLOW) c.follows++
    else if (t === LIKE) c.likes++
    else c.reposts++
  }
  return c
}
