/**
 * A log-backed subscription (subscribeRepos) delivers the log's frames as
 * they are: real `ws` clients, live and replaying, receive exactly the
 * logged frames, in order, whatever their size (payload lengths on each side
 * of WebSocket's 7-bit, 16-bit and 64-bit length encodings), whether events
 * come one at a time or many per append.
 */
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { WebSocket } from 'ws'
import { EventLog, SubscriptionServer, encodeFrame } from '../src/index.ts'

let dir: string
let log: EventLog
let subs: SubscriptionServer
let server: http.Server
let url: string

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-'))
  // no checkpoint thread: one still copying the log while the directory is removed made rmSync fail (ENOTEMPTY)
  log = new EventLog(path.join(dir, 'events.sqlite'), { retentionMs: 3_600_000, checkpointer: 'writer' })
  subs = new SubscriptionServer('/xrpc/com.atproto.sync.subscribeRepos', log, { maxBufferBytes: 64 * 1024 * 1024 })
  server = http.createServer((_req, res) => res.writeHead(404).end())
  server.on('upgrade', (req, socket, head) => {
    if (!subs.handleUpgrade(req, socket, head)) socket.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/xrpc/com.atproto.sync.subscribeRepos`
})

afterAll(async () => {
  subs.close()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await log.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

/** A client that keeps every binary message it receives. */
const connect = async (cursor?: number): Promise<{ frames: Buffer[]; ws: WebSocket }> => {
  const ws = new WebSocket(cursor === undefined ? url : `${url}?cursor=${cursor}`)
  const frames: Buffer[] = []
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    expect(isBinary).toBe(true)
    frames.push(Buffer.from(data))
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  return { frames, ws }
}

/** An event whose whole frame (with its seq) is exactly `size` bytes. */
const eventOfFrameSize = (size: number, seq: number) => {
  let pad = Math.max(0, size - 60)
  for (let i = 0; i < 40; i++) {
    const got = encodeFrame('#test', { seq, pad: new Uint8Array(pad) }).length
    if (got === size) return { did: 'did:plc:test', type: '#test', body: { pad: new Uint8Array(pad) } }
    pad = Math.max(0, pad + size - got)
  }
  throw new Error(`no padding gives a ${size}-byte frame`)
}

test('every subscriber gets exactly the log frames, in order, at every length encoding', async () => {
  const live = await Promise.all([connect(), connect(), connect()])
  const sizes = [40, 125, 126, 127, 1_000, 65_535, 65_536, 70_000, 300, 125]
  // one at a time
  for (const size of sizes) log.append([eventOfFrameSize(size, log.nextSeq)])
  // and many per batch
  const batch = []
  for (let i = 0; i < sizes.length; i++) batch.push(eventOfFrameSize(sizes[i]!, log.nextSeq + i))
  log.append(batch)
  // a subscriber replaying from the start, which then goes live
  const replaying = await connect(0)
  log.append([eventOfFrameSize(126, log.nextSeq), eventOfFrameSize(65_536, log.nextSeq + 1)])

  const expected = log.after(0, 1_000).map((r) => Buffer.from(r.frame))
  expect(expected.map((f) => f.length)).toEqual([...sizes, ...sizes, 126, 65_536])
  const everyone = [...live, replaying]
  const deadline = Date.now() + 10_000
  while (everyone.some((c) => c.frames.length < expected.length) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20))
  }
  for (const c of everyone) {
    expect(c.frames.length).toBe(expected.length)
    c.frames.forEach((f, i) => expect(f.equals(expected[i]!)).toBe(true))
    c.ws.close()
  }
})
