// One synthetic PDS host of the relay benchmark, run as a forked worker.
// It registers its DIDs in the PLC directory (their documents name this host
// and a secp256k1 key), announces every repo with a #sync, pre-generates its
// whole share of signed commits to a file (so no signing happens while the
// relay is measured), then streams them on a fixed schedule: frame j is due
// at t0 + j/rate and its rev says tBase + j/rate, so a consumer recovers the
// scheduled send time from the rev alone (send = rev + (t0 - tBase)). A host
// that falls behind its schedule shows up as latency, not as a slower rate.
//
// IPC in:  announce · pregen {tBase, rate, events} · go {t0} · stop
// IPC out: ready {hostname} · subscribed · announced · progress · pregenerated · sent · done
import fs from 'node:fs'
import { parseArgs } from 'node:util'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { Secp256k1Keypair } from '@atproto/crypto'
import { Client, createOp } from '@did-plc/lib'
import { encodeFrame } from '@atsuite/common'
import { FakePds } from '../../../packages/dev-env/src/fake-pds.ts'
import { FastRepo, newSigningKey, nowMicros } from './fast-repo.ts'
import { FrameReader } from '../lib/frame-file.ts'

const { values: args } = parseArgs({
  options: {
    plc: { type: 'string' },
    dids: { type: 'string' },
    index: { type: 'string' },
    file: { type: 'string' },
  },
})
const plcUrl = args.plc!
const didCount = Number(args.dids)
const index = Number(args.index)
const dataFile = args.file!

const send = (msg: Record<string, unknown>) => process.send!(msg)
const HIGH_WATER = 32 * 1024 * 1024

const pds = await FakePds.start({ historyLimit: 20_000 })
const repos: FastRepo[] = []
{
  const plc = new Client(plcUrl)
  const rotation = await Secp256k1Keypair.create()
  let next = 0
  const register = async () => {
    while (next < didCount) {
      const i = next++
      const key = await newSigningKey()
      const { op, did } = await createOp({
        signingKey: key.didKey,
        handle: `bench-${index}-${i}.test`,
        pds: pds.url,
        rotationKeys: [rotation.did()],
        signer: rotation as never,
      })
      await plc.sendOperation(did, op as never)
      const repo = FastRepo.create(did, key.priv, index * 100_000 + i)
      if (i === 0) await repo.checkAgainstReference(key.didKey)
      repos[i] = repo
    }
  }
  await Promise.all(Array.from({ length: 8 }, register))
  for (const r of repos) {
    pds.repos.set(r.did, { did: r.did, head: () => r.head, car: () => r.car(), active: true })
  }
}
send({ type: 'ready', hostname: pds.hostname })
void pds.waitForSubscribers(1, 120_000).then(() => send({ type: 'subscribed' }))

let stopping = false
let pregen: { events: number; rate: number; firstSeq: number } | null = null

process.on('message', (raw) => {
  const msg = raw as { type: string; [k: string]: unknown }
  if (msg.type === 'announce') {
    for (const r of repos) pds.emit('#sync', r.syncBody())
    send({ type: 'announced', seq: pds.seq })
  } else if (msg.type === 'pregen') {
    void generate(Number(msg.tBase), Number(msg.rate), Number(msg.events)).catch(fail)
  } else if (msg.type === 'go') {
    void stream(Number(msg.t0)).catch(fail)
  } else if (msg.type === 'stop') {
    stopping = true
    void pds.close().finally(() => process.exit(0))
  }
})

const fail = (err: unknown) => {
  console.error(err)
  process.exit(1)
}

/** Writes `events` frames, [u32 length][frame], round-robin over the repos. */
async function generate(tBase: number, rate: number, events: number): Promise<void> {
  const started = Date.now()
  const fd = fs.openSync(dataFile, 'w')
  const firstSeq = pds.seq + 1
  let buf = Buffer.allocUnsafe(16 * 1024 * 1024)
  let used = 0
  let bytes = 0
  let lastReport = Date.now()
  const flush = () => {
    fs.writeSync(fd, buf, 0, used)
    used = 0
  }
  for (let j = 0; j < events; j++) {
    const repo = repos[j % repos.length]
    const { body } = repo.next(tBase + Math.floor((j * 1e6) / rate))
    const frame = encodeFrame('#commit', { ...body, seq: firstSeq + j })
    if (used + 4 + frame.length > buf.length) {
      flush()
      if (4 + frame.length > buf.length) buf = Buffer.allocUnsafe(2 * (4 + frame.length))
    }
    buf.writeUInt32LE(frame.length, used)
    buf.set(frame, used + 4)
    used += 4 + frame.length
    bytes += frame.length
    if ((j & 1023) === 1023) {
      if (Date.now() - lastReport > 1000) {
        lastReport = Date.now()
        send({ type: 'progress', generated: j + 1 })
      }
      await yieldToLoop()
      if (stopping) return
    }
  }
  flush()
  fs.closeSync(fd)
  pregen = { events, rate, firstSeq }
  send({ type: 'pregenerated', events, bytes, seconds: (Date.now() - started) / 1000 })
}

async function stream(t0: number): Promise<void> {
  if (!pregen) throw new Error('go before pregen')
  const { events, rate, firstSeq } = pregen
  const reader = new FrameReader(dataFile)
  let sent = 0
  let lastReport = 0
  let maxLagMs = 0
  const report = (force = false) => {
    const now = Date.now()
    if (!force && now - lastReport < 1000) return
    lastReport = now
    send({ type: 'sent', sent, lagMs: Math.max(0, (nowMicros() - t0) / 1000 - (sent * 1000) / rate), maxLagMs })
  }
  while (!stopping && sent < events) {
    const due = Math.min(events, Math.floor(((nowMicros() - t0) * rate) / 1e6) + 1)
    if (due > sent) {
      const lagMs = ((due - sent) * 1000) / rate
      if (lagMs > maxLagMs) maxLagMs = lagMs
    }
    let batch = 0
    while (sent < due && batch < 2000 && pds.maxBufferedAmount() < HIGH_WATER) {
      const frame = reader.next()
      if (!frame) throw new Error(`pre-generated file ended after ${sent} of ${events} frames`)
      pds.emitEncoded(firstSeq + sent, frame)
      sent++
      batch++
    }
    report()
    if (sent >= due) {
      const waitUs = t0 + ((sent * 1e6) / rate) - nowMicros()
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(50, Math.floor(waitUs / 1000)))))
    } else if (pds.maxBufferedAmount() >= HIGH_WATER) {
      // the relay is not reading: wait without spinning (a busy host would steal the relay's CPU)
      await new Promise((r) => setTimeout(r, 5))
    } else {
      await yieldToLoop()
    }
  }
  reader.close()
  report(true)
  send({ type: 'done', sent })
}
