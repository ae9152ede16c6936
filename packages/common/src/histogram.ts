// A fixed-size latency histogram (microseconds): 10 µs buckets up to 10 ms,
// then 1 ms buckets up to 60 s, then one overflow bucket. Memory stays
// constant however long the run; histograms from several processes add up.

const FINE_US = 10
const FINE_MAX_US = 10_000
const COARSE_US = 1_000
const COARSE_MAX_US = 60_000_000
const FINE = FINE_MAX_US / FINE_US
const COARSE = (COARSE_MAX_US - FINE_MAX_US) / COARSE_US
const BUCKETS = FINE + COARSE + 1

export class Histogram {
  readonly counts: Float64Array
  count = 0
  max = 0

  constructor(counts?: ArrayLike<number>) {
    this.counts = new Float64Array(BUCKETS)
    if (counts) {
      this.counts.set(counts)
      for (let i = 0; i < BUCKETS; i++) this.count += this.counts[i]
    }
  }

  record(us: number): void {
    const v = us < 0 ? 0 : us
    let i: number
    if (v < FINE_MAX_US) i = Math.floor(v / FINE_US)
    else if (v < COARSE_MAX_US) i = FINE + Math.floor((v - FINE_MAX_US) / COARSE_US)
    else i = BUCKETS - 1
    this.counts[i]++
    this.count++
    if (v > this.max) this.max = v
  }

  add(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i]
    this.count += other.count
    this.max = Math.max(this.max, other.max)
  }

  reset(): void {
    this.counts.fill(0)
    this.count = 0
    this.max = 0
  }

  /** The non-empty buckets as [index, count] pairs: what a process reports of its histogram. */
  toSparse(): [number, number][] {
    const out: [number, number][] = []
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i] > 0) out.push([i, this.counts[i]])
    return out
  }

  /** A histogram from `toSparse()` pairs (indexes out of range are ignored). */
  static fromSparse(pairs: readonly (readonly [number, number])[], max = 0): Histogram {
    const h = new Histogram()
    for (const [i, n] of pairs) {
      if (Number.isInteger(i) && i >= 0 && i < BUCKETS && n > 0) {
        h.counts[i] += n
        h.count += n
      }
    }
    h.max = max
    return h
  }

  /** What this histogram holds beyond `earlier` (a snapshot of it); max stays this one's. */
  since(earlier: Histogram): Histogram {
    const h = new Histogram()
    for (let i = 0; i < BUCKETS; i++) {
      const n = this.counts[i] - earlier.counts[i]
      if (n > 0) {
        h.counts[i] = n
        h.count += n
      }
    }
    h.max = this.max
    return h
  }

  /** Upper edge of the bucket holding quantile q (0..1), in µs; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN
    const target = Math.max(1, Math.ceil(q * this.count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]
      if (seen >= target) {
        if (i < FINE) return (i + 1) * FINE_US
        if (i < FINE + COARSE) return FINE_MAX_US + (i - FINE + 1) * COARSE_US
        return this.max
      }
    }
    return this.max
  }
}
