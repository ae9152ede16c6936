// Small, dependency-free statistics over latency samples (milliseconds).

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export const percentile = (samples: readonly number[], p: number): number => {
  if (samples.length === 0) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!
}

export const median = (samples: readonly number[]): number => percentile(samples, 50)

export type LatencySummary = { count: number; p50: number; p99: number; mean: number }

export const summarize = (samples: readonly number[]): LatencySummary => ({
  count: samples.length,
  p50: percentile(samples, 50),
  p99: percentile(samples, 99),
  mean: samples.reduce((a, b) => a + b, 0) / (samples.length || 1),
})

/** Wall-clock timer in milliseconds with sub-millisecond resolution. */
export const timer = (): (() => number) => {
  const start = performance.now()
  return () => performance.now() - start
}
