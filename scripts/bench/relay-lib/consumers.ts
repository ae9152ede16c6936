// The relay benchmark's downstream consumers, run as one forked worker: N
// raw WebSocket subscribers of the relay's subscribeRepos (live, no cursor).
// Each counts frames and bytes; #commit frames give a latency sample without
// a full CBOR decode — the body's `rev` (text key "rev", 13-char string) is
// found by byte search, and its time plus (t0 - tBase) is when the fake host
// was scheduled to send it.
//
// With --jetstream the URL is the relay's Jetstream endpoint: consumer i asks for
// wantedCollections=app.bsky.feed.* (even i) or app.bsky.feed.post (odd i), and the
// latency sample comes from the JSON's "rev" (one per op; the fake hosts write one op
// per commit).
//
// IPC in:  start {offsetMicros} · reset · count · report · stop
// IPC out: connected · count {frames[], p99Ms (latency p99 since the last count)} · report {frames[], bytes[], cut[], errors[], hist}
import { parseArgs } from 'node:util'
import { WebSocket } from 'ws'
import { Histogram } from '@atsuite/common'
import { nowMicros, revMicros } from './fast-repo.ts'

const { values: args } = parseArgs({ options: { url: { type: 'string' }, n: { type: 'string' }, jetstream: { type: 'boolean', default: false } } })
const jetstream = args.jetstream
const urlOf = (i: number): string =>
  jetstream ? `${args.url}?wantedCollections=${i % 2 === 0 ? 'app.bsky.feed.*' : 'app.bsky.feed.post'}` : args.url!
const n = Number(args.n)
const send = (msg: Record<string, unknown>) => process.send!(msg)

// "rev" as a DAG-CBOR text key followed by the header of a 13-byte text string
const REV_KEY = Buffer.from([0x63, 0x72, 0x65, 0x76, 0x6d])
const COMMIT_T = Buffer.from('#commit')
const JSON_REV = Buffer.from('"rev":"')

let offsetMicros: number | null = null
const hist = new Histogram()
/** latency since the last `count`: the table's per-interval p99 */
const windowHist = new Histogram()
const sample = (us: number) => {
  hist.record(us)
  windowHist.record(us)
}
const frames = new Array<number>(n).fill(0)
const bytes = new Array<number>(n).fill(0)
const cut: (string | null)[] = new Array(n).fill(null)
const errors: string[] = []
let opened = 0

const sockets: WebSocket[] = []
for (let i = 0; i < n; i++) {
  const ws = new WebSocket(urlOf(i), { perMessageDeflate: false, skipUTF8Validation: true, maxPayload: 64 * 1024 * 1024 })
  sockets.push(ws)
  ws.once('open', () => {
    if (++opened === n) send({ type: 'connected' })
  })
  ws.on('message', (data: Buffer) => {
    frames[i]++
    bytes[i] += data.length
    if (jetstream) {
      if (offsetMicros === null) return
      const at = data.indexOf(JSON_REV)
      if (at !== -1) sample(nowMicros() - revMicros(data.toString('latin1', at + 7, at + 20)) - offsetMicros)
      return
    }
    const head = data.subarray(0, 24)
    if (head.indexOf(COMMIT_T) !== -1) {
      if (offsetMicros === null) return
      const at = data.indexOf(REV_KEY)
      if (at !== -1) sample(nowMicros() - revMicros(data.toString('latin1', at + 5, at + 18)) - offsetMicros)
    } else if (data.length < 200 && data.includes('ConsumerTooSlow')) {
      cut[i] = 'ConsumerTooSlow'
    }
  })
  ws.on('error', (err) => void errors.push(`consumer ${i}: ${err.message}`))
  ws.on('close', (code) => {
    if (!cut[i]) cut[i] = `closed ${code}`
  })
}

process.on('message', (raw) => {
  const msg = raw as { type: string; offsetMicros?: number }
  if (msg.type === 'start') {
    offsetMicros = msg.offsetMicros ?? 0
  } else if (msg.type === 'reset') {
    hist.reset()
    windowHist.reset()
    frames.fill(0)
    bytes.fill(0)
  } else if (msg.type === 'count') {
    send({ type: 'count', frames: [...frames], p99Ms: windowHist.quantile(0.99) / 1000 })
    windowHist.reset()
  } else if (msg.type === 'report') {
    send({ type: 'report', frames: [...frames], bytes: [...bytes], cut: [...cut], errors: errors.slice(0, 20), hist: { counts: hist.counts, max: hist.max } })
  } else if (msg.type === 'stop') {
    for (const ws of sockets) ws.terminate()
    process.exit(0)
  }
})
