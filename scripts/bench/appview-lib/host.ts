// The fake upstream of the app view benchmark, run as a forked worker: one
// loopback HTTP server that is both "the PDS" every synthetic DID document
// names (it answers resolveHandle, so the app view can verify `.test`
// handles) and "the relay" the app view subscribes to: subscribeRepos sends
// the pre-generated frame files in order, from the subscriber's cursor, as
// fast as the subscriber reads (it stops while the socket's send buffer is
// above 8 MB — the app view pauses reading when its queue is full, and TCP
// back-pressure reaches here).
//
// IPC in:  accounts {file} · stream {files: [{file, firstSeq, frames}]} · stop
// IPC out: ready {url, port} · subscribed {cursor} · sent {sent} · done {sent}
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { FrameReader } from '../lib/frame-file.ts'

type FrameFile = { file: string; firstSeq: number; frames: number }

const HIGH_WATER = 8 * 1024 * 1024
const LOW_WATER = 2 * 1024 * 1024
const send = (msg: Record<string, unknown>) => process.send!(msg)

const handles = new Map<string, string>()
let files: FrameFile[] | null = null
const waitingForFiles: (() => void)[] = []
let sent = 0

const drained = (ws: WebSocket) =>
  new Promise<void>((resolve) => {
    const check = () => (ws.readyState !== ws.OPEN || ws.bufferedAmount < LOW_WATER ? resolve() : setTimeout(check, 2))
    setTimeout(check, 2)
  })

/** Sends every frame after `cursor`, in order, then reports done. */
const pump = async (ws: WebSocket, cursor: number): Promise<void> => {
  if (!files) await new Promise<void>((r) => waitingForFiles.push(r))
  for (const f of files!) {
    if (f.firstSeq + f.frames - 1 <= cursor) continue
    let skip = Math.max(0, cursor + 1 - f.firstSeq)
    const reader = new FrameReader(f.file)
    try {
      for (let frame = reader.next(); frame; frame = reader.next()) {
        if (skip > 0) {
          skip--
          continue
        }
        if (ws.readyState !== ws.OPEN) return
        ws.send(frame, { binary: true })
        sent++
        if (ws.bufferedAmount > HIGH_WATER) await drained(ws)
      }
    } finally {
      reader.close()
    }
  }
  send({ type: 'done', sent })
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
    res.end(JSON.stringify(body))
  }
  switch (url.pathname) {
    case '/xrpc/_health':
      return json(200, { version: 'bench-host' })
    case '/xrpc/com.atproto.identity.resolveHandle': {
      const did = handles.get(url.searchParams.get('handle') ?? '')
      return did ? json(200, { did }) : json(400, { error: 'HandleNotFound', message: 'unknown handle' })
    }
    case '/xrpc/com.atproto.server.describeServer':
      return json(200, { did: 'did:web:localhost', availableUserDomains: ['.test'], inviteCodeRequired: false })
    default:
      return json(501, { error: 'MethodNotImplemented', message: url.pathname })
  }
})
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  if (url.pathname !== '/xrpc/com.atproto.sync.subscribeRepos') return socket.destroy()
  const cursor = Number(url.searchParams.get('cursor') ?? 0) || 0
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => ws.terminate())
    send({ type: 'subscribed', cursor })
    void pump(ws, cursor).catch((err) => {
      console.error(err)
      ws.terminate()
    })
  })
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const port = (server.address() as AddressInfo).port
setInterval(() => send({ type: 'sent', sent }), 1000).unref()

process.on('message', (raw) => {
  const msg = raw as { type: string; file?: string; files?: FrameFile[] }
  if (msg.type === 'accounts') {
    for (const { did, handle } of JSON.parse(fs.readFileSync(msg.file!, 'utf8')) as { did: string; handle: string }[]) handles.set(handle, did)
  } else if (msg.type === 'stream') {
    files = msg.files!
    for (const r of waitingForFiles.splice(0)) r()
  } else if (msg.type === 'stop') {
    for (const ws of wss.clients) ws.terminate()
    server.close()
    process.exit(0)
  }
})
send({ type: 'ready', url: `http://localhost:${port}`, port })
