// The relay benchmark's closing table.
import type { Histogram } from '@atsuite/common'

/** `p99Ms`: end-to-end latency p99 of the events received in the interval that ends at `t` */
export type Sample = { t: number; rssMiB: number; eventsPerSec: number; cpuCores: number; p99Ms: number }

export type Report = {
  hosts: number
  dids: number
  consumers: number
  rate: number
  warmup: number
  duration: number
  sent: number
  framesPerConsumer: number[]
  bytesPerConsumer: number[]
  cut: (string | null)[]
  errors: string[]
  hist: Histogram
  /** the relay's own latency (its /admin/latency over the measured interval: receipt → handed to subscribers), max of the whole run */
  ownLatency: Histogram | null
  relayCpuSeconds: number
  /** the load generators, for judging how much of the machine was left to the relay */
  hostsCpuSeconds: number
  consumersCpuSeconds: number
  samples: Sample[]
  maxHostLagMs: number
  dropped: Record<string, number>
  relayedTotal: number
  frameBytes: number
  pregenSeconds: number
  cpus: number
}

export const TARGET_EVENTS_PER_SEC = 20_000

const int = (n: number) => Math.round(n).toLocaleString('en-US')
const ms = (us: number) => (Number.isNaN(us) ? 'n/a' : us < 10_000 ? `${(us / 1000).toFixed(2)} ms` : `${(us / 1000).toFixed(0)} ms`)
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`

/** Least-squares slope of y over x (per unit of x). */
const slope = (pts: [number, number][]): number => {
  const n = pts.length
  if (n < 2) return Number.NaN
  const mx = pts.reduce((s, p) => s + p[0], 0) / n
  const my = pts.reduce((s, p) => s + p[1], 0) / n
  const num = pts.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0)
  const den = pts.reduce((s, p) => s + (p[0] - mx) ** 2, 0)
  return den === 0 ? Number.NaN : num / den
}

const table = (rows: [string, string][]): string => {
  const w = Math.max(...rows.map((r) => r[0].length))
  return rows.map(([k, v]) => `  ${k.padEnd(w)}   ${v}`).join('\n')
}

export const formatReport = (r: Report): string => {
  const perSec = r.framesPerConsumer.map((f) => f / r.duration)
  const minRate = Math.min(...perSec)
  const meanRate = perSec.reduce((a, b) => a + b, 0) / perSec.length
  const totalFrames = r.framesPerConsumer.reduce((a, b) => a + b, 0)
  const totalBytes = r.bytesPerConsumer.reduce((a, b) => a + b, 0)
  const cut = r.cut.filter((c) => c !== null)
  const rss = r.samples.filter((s) => !Number.isNaN(s.rssMiB))
  const secondHalf = rss.filter((s) => s.t >= r.duration / 2).map((s): [number, number] => [s.t / 60, s.rssMiB])
  const relayedPerSec = minRate
  const droppedText = Object.keys(r.dropped).length === 0 ? 'none' : Object.entries(r.dropped).map(([k, v]) => `${k} ${int(v)}`).join(', ')
  const head =
    `Relay benchmark — ${r.hosts} fake hosts, ${int(r.dids)} DIDs, ${r.consumers} consumers, ` +
    `${int(r.rate)} events/s offered; ${r.duration.toFixed(0)} s measured after ${r.warmup} s warm-up; ${r.cpus} CPUs`
  const rows: [string, string][] = [
    ['commits sent by the fake hosts', `${int(r.sent)}  (${int(r.sent / r.duration)}/s; pre-generated in ${r.pregenSeconds.toFixed(0)} s, ${int(r.frameBytes)} B/frame)`],
    ['verified events re-broadcast, per consumer', `min ${int(minRate)}/s · mean ${int(meanRate)}/s · max ${int(Math.max(...perSec))}/s`],
    ['delivered to all consumers together', `${int(totalFrames / r.duration)} frames/s, ${mib(totalBytes / r.duration)}/s`],
    ['consumers cut', cut.length === 0 ? `none of ${r.consumers}` : `${cut.length} of ${r.consumers} (${[...new Set(cut)].join(', ')})`],
    ['dropped by the relay (whole run)', droppedText],
    ['end-to-end latency, host send → consumer', `p50 ${ms(r.hist.quantile(0.5))} · p90 ${ms(r.hist.quantile(0.9))} · p99 ${ms(r.hist.quantile(0.99))} · max ${ms(r.hist.max)}  (${int(r.hist.count)} samples)`],
    [
      "the relay's own latency, receipt → fan-out",
      r.ownLatency
        ? `p50 ${ms(r.ownLatency.quantile(0.5))} · p90 ${ms(r.ownLatency.quantile(0.9))} · p99 ${ms(r.ownLatency.quantile(0.99))} · max ${ms(r.ownLatency.max)} (whole run)  (${int(r.ownLatency.count)} events)`
        : 'n/a',
    ],
    ['fake hosts behind schedule (max)', `${r.maxHostLagMs.toFixed(0)} ms`],
    ['relay CPU', `${(r.relayCpuSeconds / r.duration).toFixed(2)} cores · ${relayedPerSec > 0 ? ((r.relayCpuSeconds * 1e6) / (relayedPerSec * r.duration)).toFixed(0) : 'n/a'} µs per relayed event`],
    ['fake hosts / consumers CPU', `${(r.hostsCpuSeconds / r.duration).toFixed(2)} / ${(r.consumersCpuSeconds / r.duration).toFixed(2)} cores`],
    [
      'relay RSS',
      rss.length === 0
        ? 'n/a (no /proc)'
        : `start ${rss[0].rssMiB.toFixed(0)} MiB · end ${rss[rss.length - 1].rssMiB.toFixed(0)} MiB · max ${Math.max(...rss.map((s) => s.rssMiB)).toFixed(0)} MiB · ` +
          `second-half slope ${Number.isNaN(slope(secondHalf)) ? 'n/a' : `${slope(secondHalf) >= 0 ? '+' : ''}${slope(secondHalf).toFixed(1)} MiB/min`}`,
    ],
    [`target ≥ ${int(TARGET_EVENTS_PER_SEC)} verified events/s`, relayedPerSec >= TARGET_EVENTS_PER_SEC ? 'met' : `NOT met (${int(relayedPerSec)}/s)`],
  ]
  if (r.errors.length) rows.push(['consumer errors', r.errors.slice(0, 3).join('; ')])
  const series = [
    '  t (s)   relay RSS (MiB)   events/s per consumer   relay CPU (cores)   latency p99 (ms)',
    ...r.samples.map(
      (s) =>
        `  ${s.t.toFixed(0).padStart(5)}   ${s.rssMiB.toFixed(0).padStart(15)}   ${(Number.isNaN(s.eventsPerSec) ? '' : int(s.eventsPerSec)).padStart(21)}   ${(Number.isNaN(s.cpuCores) ? '' : s.cpuCores.toFixed(2)).padStart(17)}   ${(Number.isNaN(s.p99Ms) ? '' : s.p99Ms.toFixed(1)).padStart(16)}`,
    ),
  ]
  return `\n${head}\n\n${table(rows)}\n\n${series.join('\n')}\n`
}
