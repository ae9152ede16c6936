// The app view benchmark's closing table: metric | ours | reference | ratio |
// target, then the details (scale, load, RSS over the indexing run).
import type { IndexingResult } from './indexing.ts'
import type { Latency, ReadResults } from './reads.ts'
import { percentile } from '../lib/stats.ts'

export type Side = {
  indexing?: IndexingResult
  reads?: ReadResults
  visible?: { p50: number; p99: number; n: number; timeouts: number; fromSendP50: number }
  /** what could not be measured, and why */
  notes: string[]
}

type Row = { label: string; unit: string; ours?: number; ref?: number; target?: string; met?: (v: number) => boolean; digits?: number }

const fmt = (v: number | undefined, digits = 1): string =>
  v === undefined || !Number.isFinite(v) ? '—' : v >= 10_000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(digits)

const statsQ = (i: IndexingResult, p: number) => percentile(i.samples.map((s) => s.statsMs).filter(Number.isFinite), p)

const lat = (l: Latency | undefined, q: 'p50' | 'p99') => (l && l.n > 0 ? l[q] : undefined)

export const formatTable = (ours: Side, ref: Side): string => {
  const oi = ours.indexing
  const ri = ref.indexing
  const perM = (i?: IndexingResult) => (i ? i.dbBytes / 1024 / 1024 / (i.events / 1e6) : undefined)
  const rss = (i: IndexingResult | undefined, f: 'max' | 'end', field: 'rssMiB' | 'anonMiB' = 'rssMiB') => {
    if (!i) return undefined
    const v = i.samples.map((s) => s[field]).filter(Number.isFinite)
    return f === 'max' ? Math.max(...v) : v[v.length - 1]
  }
  const r = ours.reads
  const rr = ref.reads
  const rows: Row[] = [
    { label: 'indexing rate', unit: 'events/s', ours: oi?.eventsPerSec, ref: ri?.eventsPerSec, target: '≥ 10,000', met: (v) => v >= 10_000, digits: 0 },
    { label: 'indexing rate', unit: 'records/s', ours: oi?.recordsPerSec, ref: ri?.recordsPerSec, digits: 0 },
    { label: 'app view CPU while indexing', unit: 'µs/event', ours: oi ? (oi.cpuSeconds * 1e6) / oi.events : undefined, ref: ri ? (ri.cpuSeconds * 1e6) / ri.events : undefined, digits: 0 },
    { label: 'stats request while indexing, p50', unit: 'ms', ours: oi ? statsQ(oi, 50) : undefined, digits: 1 },
    { label: 'stats request while indexing, max', unit: 'ms', ours: oi ? statsQ(oi, 100) : undefined, digits: 0 },
    { label: 'database size per million events', unit: 'MiB', ours: perM(oi), ref: perM(ri), digits: 0 },
    { label: 'bytes written by the app view per event', unit: 'KiB', ours: oi ? oi.writeBytes / 1024 / (oi.events - (oi.samples.find((s) => s.events > 0)?.events ?? 0)) : undefined, digits: 1 },
    { label: 'app view RSS while indexing, max', unit: 'MiB', ours: rss(oi, 'max'), ref: rss(ri, 'max'), digits: 0 },
    { label: 'app view RSS after indexing', unit: 'MiB', ours: rss(oi, 'end'), ref: rss(ri, 'end'), digits: 0 },
    { label: 'app view RSS without mapped files, max', unit: 'MiB', ours: rss(oi, 'max', 'anonMiB'), ref: rss(ri, 'max', 'anonMiB'), digits: 0 },
    { label: 'getTimeline light, page 1 p50', unit: 'ms', ours: lat(r?.timelineLight1, 'p50'), ref: lat(rr?.timelineLight1, 'p50'), target: '< 10', met: (v) => v < 10 },
    { label: 'getTimeline light, page 1 p99', unit: 'ms', ours: lat(r?.timelineLight1, 'p99'), ref: lat(rr?.timelineLight1, 'p99'), target: '< 50', met: (v) => v < 50 },
    { label: 'getTimeline light, page 2 p50', unit: 'ms', ours: lat(r?.timelineLight2, 'p50'), ref: lat(rr?.timelineLight2, 'p50'), target: '< 10', met: (v) => v < 10 },
    { label: 'getTimeline light, page 2 p99', unit: 'ms', ours: lat(r?.timelineLight2, 'p99'), ref: lat(rr?.timelineLight2, 'p99'), target: '< 50', met: (v) => v < 50 },
    { label: 'getTimeline heavy, page 1 p50', unit: 'ms', ours: lat(r?.timelineHeavy1, 'p50'), ref: lat(rr?.timelineHeavy1, 'p50'), target: '< 10', met: (v) => v < 10 },
    { label: 'getTimeline heavy, page 1 p99', unit: 'ms', ours: lat(r?.timelineHeavy1, 'p99'), ref: lat(rr?.timelineHeavy1, 'p99'), target: '< 50', met: (v) => v < 50 },
    { label: 'getTimeline heavy, page 2 p50', unit: 'ms', ours: lat(r?.timelineHeavy2, 'p50'), ref: lat(rr?.timelineHeavy2, 'p50'), target: '< 10', met: (v) => v < 10 },
    { label: 'getTimeline heavy, page 2 p99', unit: 'ms', ours: lat(r?.timelineHeavy2, 'p99'), ref: lat(rr?.timelineHeavy2, 'p99'), target: '< 50', met: (v) => v < 50 },
    { label: 'getPostThread p50', unit: 'ms', ours: lat(r?.thread, 'p50'), ref: lat(rr?.thread, 'p50') },
    { label: 'getPostThread p99', unit: 'ms', ours: lat(r?.thread, 'p99'), ref: lat(rr?.thread, 'p99') },
    { label: 'getProfile p50', unit: 'ms', ours: lat(r?.profile, 'p50'), ref: lat(rr?.profile, 'p50') },
    { label: 'getProfile p99', unit: 'ms', ours: lat(r?.profile, 'p99'), ref: lat(rr?.profile, 'p99') },
    { label: 'post→visible p50', unit: 'ms', ours: ours.visible?.p50, ref: ref.visible?.p50 },
    { label: 'post→visible p99', unit: 'ms', ours: ours.visible?.p99, ref: ref.visible?.p99, target: '< 100', met: (v) => v < 100 },
  ]
  const header = ['metric', 'unit', 'ours', 'reference', 'ratio', 'target', 'met']
  const body = rows.map((row) => {
    const ratio = row.ours !== undefined && row.ref !== undefined && row.ref !== 0 ? row.ours / row.ref : undefined
    return [
      row.label,
      row.unit,
      fmt(row.ours, row.digits),
      fmt(row.ref, row.digits),
      ratio === undefined || !Number.isFinite(ratio) ? '—' : `${ratio.toFixed(2)}×`,
      row.target ?? '',
      row.met && row.ours !== undefined && Number.isFinite(row.ours) ? (row.met(row.ours) ? 'yes' : 'NO') : '',
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const right = new Set([2, 3, 4])
  const line = (cells: string[]) => cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

/** RSS, rate and load over the indexing run, about 20 lines. */
export const formatSeries = (i: IndexingResult): string => {
  const step = Math.max(1, Math.ceil(i.samples.length / 20))
  const lines = ['  t (s)   events indexed   events/s   RSS (MiB)   CPU (cores)   load 1m']
  let prev = { t: 0, events: 0 }
  for (let k = step - 1; k < i.samples.length; k += step) {
    const s = i.samples[k]
    const rate = (s.events - prev.events) / Math.max(0.001, s.t - prev.t)
    prev = s
    lines.push(
      `  ${s.t.toFixed(0).padStart(5)}   ${s.events.toLocaleString('en-US').padStart(14)}   ${rate.toFixed(0).padStart(8)}   ${s.rssMiB.toFixed(0).padStart(9)}   ${s.cpuCores.toFixed(2).padStart(11)}   ${s.load1.toFixed(2).padStart(7)}`,
    )
  }
  return lines.join('\n')
}
