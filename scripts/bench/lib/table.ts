// The printed report: one row per figure, both servers side by side (the
// median over rounds), the ratio ours ÷ reference and the target for
// that ratio.
import { median, type LatencySummary } from './stats.ts'
import type { GetRepoResult, Throughput } from './workload.ts'

export type TargetResult = {
  rssStartMiB?: number
  rssEndMiB?: number
  rssPeakMiB?: number
  sequential?: Throughput
  concurrent?: Throughput
  getRecord?: LatencySummary
  getRepo?: GetRepoResult
  /** user + system CPU the server process used from start to the end of the run */
  serverCpuSeconds?: number
  errors: string[]
  elapsedMs: number
}

/** A target on the ratio ours ÷ reference: at least `min`, or at most `max`. */
export type Goal = { min: number } | { max: number }

/** One figure of a comparison table, read from each server's result. */
export type Row<T> = {
  label: string
  unit: string
  digits: number
  value: (r: T) => number | undefined
  goal?: Goal
}

// issue 9's targets for the writes and the RSS after the run; the first PDS issue's (half) for the rest
const WRITES_10X: Goal = { min: 10 }
const RSS_AFTER: Goal = { max: 0.3 }
const HALF: Goal = { max: 0.5 }

const ROWS: Row<TargetResult>[] = [
  { label: 'sequential createRecord', unit: 'writes/s', digits: 0, value: (r) => r.sequential?.writesPerSec, goal: WRITES_10X },
  { label: '  latency p50', unit: 'ms', digits: 2, value: (r) => r.sequential?.latency.p50 },
  { label: '  latency p99', unit: 'ms', digits: 2, value: (r) => r.sequential?.latency.p99 },
  { label: 'concurrent createRecord', unit: 'writes/s', digits: 0, value: (r) => r.concurrent?.writesPerSec, goal: WRITES_10X },
  { label: '  latency p50', unit: 'ms', digits: 2, value: (r) => r.concurrent?.latency.p50 },
  { label: '  latency p99', unit: 'ms', digits: 2, value: (r) => r.concurrent?.latency.p99 },
  { label: 'getRecord p50', unit: 'ms', digits: 2, value: (r) => r.getRecord?.p50, goal: HALF },
  { label: 'getRecord p99', unit: 'ms', digits: 2, value: (r) => r.getRecord?.p99, goal: HALF },
  { label: 'getRepo median', unit: 'ms', digits: 1, value: (r) => r.getRepo?.medianMs, goal: HALF },
  { label: '  CAR size', unit: 'KiB', digits: 0, value: (r) => (r.getRepo ? r.getRepo.carBytes / 1024 : undefined) },
  { label: 'RSS at start', unit: 'MiB', digits: 0, value: (r) => r.rssStartMiB, goal: HALF },
  { label: 'RSS after run', unit: 'MiB', digits: 0, value: (r) => r.rssEndMiB, goal: RSS_AFTER },
  { label: '  RSS peak (VmHWM)', unit: 'MiB', digits: 0, value: (r) => r.rssPeakMiB },
  { label: 'server CPU for the run', unit: 's', digits: 1, value: (r) => r.serverCpuSeconds },
]

const fmt = (v: number | undefined, digits: number): string =>
  v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits)

const goalText = (g: Goal | undefined): string => (!g ? '' : 'min' in g ? `≥ ${g.min}×` : `≤ ${g.max}×`)

const goalMet = (g: Goal | undefined, ratio: number | undefined): string => {
  if (!g || ratio === undefined || !Number.isFinite(ratio)) return ''
  const met = 'min' in g ? ratio >= g.min : ratio <= g.max
  return met ? 'yes' : 'NO'
}

const render = (header: string[], body: string[][], rightAligned: Set<number>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
  const line = (cells: string[]) =>
    cells.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

/** The median of a figure over the rounds that produced it. */
const medianOf = <T>(rounds: T[], row: Row<T>): number | undefined => {
  const values = rounds.map(row.value).filter((v): v is number => v !== undefined)
  return values.length ? median(values) : undefined
}

/**
 * Figures side by side: each the median over the given results of ours and of
 * the reference, their ratio and the row's goal for it.
 */
export const formatComparison = <T>(rows: Row<T>[], ours: T[], reference: T[]): string => {
  const body = rows.map((row) => {
    const a = medianOf(ours, row)
    const b = medianOf(reference, row)
    const ratio = a !== undefined && b !== undefined && b !== 0 ? a / b : undefined
    return [
      row.label,
      row.unit,
      fmt(a, row.digits),
      fmt(b, row.digits),
      ratio === undefined ? '—' : `${ratio.toFixed(2)}×`,
      goalText(row.goal),
      goalMet(row.goal, ratio),
    ]
  })
  return render(['metric', 'unit', 'ours', 'reference', 'ours/ref', 'target', 'met'], body, new Set([2, 3, 4]))
}

export const formatTable = (ours: TargetResult[], reference: TargetResult[]): string => formatComparison(ROWS, ours, reference)

/** One line per round with the headline figures, to show how much they moved between rounds. */
export const formatRounds = (ours: TargetResult[], reference: TargetResult[]): string => {
  const brief = (r: TargetResult | undefined): string =>
    !r
      ? '—'
      : `seq ${fmt(r.sequential?.writesPerSec, 0)}/s, conc ${fmt(r.concurrent?.writesPerSec, 0)}/s, ` +
        `getRecord p50 ${fmt(r.getRecord?.p50, 2)} ms, getRepo ${fmt(r.getRepo?.medianMs, 1)} ms`
  const rounds = Math.max(ours.length, reference.length)
  const lines: string[] = []
  for (let i = 0; i < rounds; i++) {
    const parts = []
    if (ours.length) parts.push(`ours ${brief(ours[i])}`)
    if (reference.length) parts.push(`reference ${brief(reference[i])}`)
    lines.push(`  round ${i + 1}: ${parts.join(' | ')}`)
  }
  return lines.join('\n')
}
