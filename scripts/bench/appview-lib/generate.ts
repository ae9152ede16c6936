// A generator worker of the app view benchmark: computes the plan (same
// scale and seed as every other process, so the same network) and writes
// the `#commit` frames of events [from, to) to a file as [u32 LE length][frame],
// seq = event index + 1. Several run side by side, one per core, each
// on its own slice of the stream; the fake host then sends the files in order.
//
// IPC out: progress {done} · done {frames, bytes, seconds}
import fs from 'node:fs'
import { parseArgs } from 'node:util'
import { FrameEncoder } from './encode.ts'
import { makePlan, paramsForScale } from './plan.ts'

const { values: a } = parseArgs({
  options: {
    scale: { type: 'string' },
    accounts: { type: 'string' },
    seed: { type: 'string' },
    dids: { type: 'string' },
    t0: { type: 'string' },
    dt: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    file: { type: 'string' },
  },
})
const started = Date.now()
const plan = makePlan(paramsForScale(Number(a.scale), a.accounts ? Number(a.accounts) : undefined), Number(a.seed))
const dids = JSON.parse(fs.readFileSync(a.dids!, 'utf8')) as string[]
const enc = new FrameEncoder(plan, dids, Number(a.t0), Number(a.dt))
const from = Number(a.from)
const to = Number(a.to)

const fd = fs.openSync(a.file!, 'w')
const buf = Buffer.allocUnsafe(16 * 1024 * 1024)
let used = 0
let bytes = 0
let lastReport = Date.now()
for (let e = from; e < to; e++) {
  const frame = enc.frame(e, e + 1)
  if (used + 4 + frame.length > buf.length) {
    fs.writeSync(fd, buf, 0, used)
    used = 0
  }
  buf.writeUInt32LE(frame.length, used)
  frame.copy(buf, used + 4)
  used += 4 + frame.length
  bytes += frame.length
  if ((e & 4095) === 0 && Date.now() - lastReport > 2000) {
    lastReport = Date.now()
    process.send!({ type: 'progress', done: e - from })
  }
}
fs.writeSync(fd, buf, 0, used)
fs.closeSync(fd)
process.send!({ type: 'done', frames: to - from, bytes, seconds: (Date.now() - started) / 1000 }, () => process.exit(0))
