// The printed report: per workload, the write→event spread of both servers
// side by side with the ratio ours ÷ reference, the issue's target for ours
// and the reference figures the issue quotes.
import type { Spread, WorkloadResult } from './workload.ts'

export type FirehoseResult = {
  steady?: WorkloadResult
  sparse?: WorkloadResult
  /** frames of each type the subscriber saw over the whole run, e.g. "#commit 571, #identity 1" */
  frames?: string
  serverCpuSeconds?: number
  errors: string[]
}

/** The issue's target for ours: write→event p99 below this, at any write rate. */
export const TARGET_P99_MS = 5
/** The reference's sparse-write figures the issue and REFERENCE-PDS.md quote (measured on this kind of machine). */
export const ISSUE_REFERENCE_SPARSE = { p50: 62, p99: 262 }

type Row = {
  label: string
  unit: string
  digits: number
  value?: (r: FirehoseResult) => number | undefined
  /** ours must stay below this */
  below?: number
  quoted?: number
  noRatio?: boolean
}

/** the longest spread title, so the percentile names line up */
const TITLE_WIDTH = '  event − response read'.length

type WorkloadKey = 'steady' | 'sparse'
type SpreadKey = 'fromRequest' | 'fromResponse' | 'roundTrip'

const spreadRows = (w: WorkloadKey, key: SpreadKey, title: string, opts: { target?: boolean; noRatio?: boolean } = {}): Row[] =>
  (['p50', 'p90', 'p99', 'max'] as (keyof Spread)[]).map((p, i) => ({
    label: `${(i === 0 ? title : '').padEnd(TITLE_WIDTH)}  ${p}`,
    unit: 'ms',
    digits: 2,
    value: (r: FirehoseResult) => r[w]?.[key][p],
    below: opts.target && p === 'p99' ? TARGET_P99_MS : undefined,
    quoted: w === 'sparse' && key === 'fromRequest' && (p === 'p50' || p === 'p99') ? ISSUE_REFERENCE_SPARSE[p] : undefined,
    noRatio: opts.noRatio,
  }))

const workloadRows = (w: WorkloadKey, title: string): Row[] => [
  { label: title, unit: '', digits: 0 },
  { label: '  writes achieved', unit: 'writes/s', digits: 0, value: (r) => r[w]?.writesPerSec },
  ...spreadRows(w, 'fromRequest', '  event − request sent', { target: true }),
  ...spreadRows(w, 'fromResponse', '  event − response read', { noRatio: true }),
  {
    label: '  events before their response',
    unit: '%',
    digits: 0,
    value: (r) => (r[w] ? r[w].eventFirstShare * 100 : undefined),
    noRatio: true,
  },
  { label: '  createRecord round trip p50', unit: 'ms', digits: 2, value: (r) => r[w]?.roundTrip.p50 },
  { label: '  events missed', unit: 'writes', digits: 0, value: (r) => r[w]?.missed, noRatio: true },
]

const fmt = (v: number | undefined, digits: number): string =>
  v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits)

const render = (header: string[], body: string[][], rightAligned: Set<number>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
  const line = (cells: string[]) =>
    cells.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

export const formatTable = (
  ours: FirehoseResult | undefined,
  reference: FirehoseResult | undefined,
  titles: { steady: string; sparse: string },
): string => {
  const rows = [...workloadRows('steady', titles.steady), ...workloadRows('sparse', titles.sparse)]
  const body = rows.map((row) => {
    if (!row.value) return [row.label, '', '', '', '', '', '', '']
    const a = ours ? row.value(ours) : undefined
    const b = reference ? row.value(reference) : undefined
    const ratio = !row.noRatio && a !== undefined && b !== undefined && a > 0 && b > 0 ? a / b : undefined
    return [
      row.label,
      row.unit,
      fmt(a, row.digits),
      fmt(b, row.digits),
      ratio === undefined ? '' : `${ratio.toFixed(ratio < 0.1 ? 3 : 2)}×`,
      row.quoted === undefined ? '' : String(row.quoted),
      row.below === undefined ? '' : `ours < ${row.below}`,
      row.below === undefined || a === undefined ? '' : a < row.below ? 'yes' : 'NO',
    ]
  })
  return render(
    ['metric', 'unit', 'ours', 'reference', 'ours/ref', 'ref in issue', 'target', 'met'],
    body,
    new Set([2, 3, 4, 5]),
  )
}
