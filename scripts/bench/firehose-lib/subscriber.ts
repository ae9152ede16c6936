// A live subscribeRepos consumer (no cursor) that notes, for every `#commit`
// frame, the moment its message reached this process — taken before the frame
// is decoded — under the key "<repo> <op path>" of each op it carries.
import { decodeAll } from '@atproto/lex-cbor'
import WebSocket from 'ws'

export type CommitArrival = {
  /** performance.now() when the WebSocket message was handed to us */
  at: number
  seq: number
  rev: string
}

type Waiter = (a: CommitArrival | undefined) => void

export const commitKey = (repo: string, path: string): string => `${repo} ${path}`

const asRecord = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined

export class FirehoseSubscriber {
  readonly url: string
  /** frames of each type seen, e.g. { '#commit': 512, '#identity': 1 } */
  readonly frameCounts = new Map<string, number>()
  /** protocol problems: error frames, undecodable frames, seq going backwards, an unexpected close */
  readonly problems: string[] = []
  /** the permessage-deflate negotiation result, as the server answered it ('' when none) */
  extensions = ''
  private readonly ws: WebSocket
  private readonly arrivals = new Map<string, CommitArrival>()
  private readonly waiters = new Map<string, Waiter>()
  private lastSeq = -1
  private closing = false

  private constructor(url: string, ws: WebSocket) {
    this.url = url
    this.ws = ws
    ws.on('message', (data, isBinary) => {
      const at = performance.now()
      this.onFrame(at, data, isBinary)
    })
    ws.on('close', (code, reason) => {
      if (!this.closing) this.problems.push(`subscription closed by the server: ${code} ${reason.toString()}`)
      this.abandonWaiters()
    })
    ws.on('error', (err) => this.problems.push(`websocket error: ${err.message}`))
  }

  /** Connects to `<service>/xrpc/com.atproto.sync.subscribeRepos` (live: no cursor) and resolves once open. */
  static connect(service: string, timeoutMs = 10_000): Promise<FirehoseSubscriber> {
    const url = service.replace(/^http/, 'ws') + '/xrpc/com.atproto.sync.subscribeRepos'
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: timeoutMs })
      ws.binaryType = 'nodebuffer'
      const fail = (err: Error) => reject(new Error(`subscribeRepos at ${url}: ${err.message}`))
      ws.once('error', fail)
      ws.once('unexpected-response', (_req, res) => {
        fail(new Error(`HTTP ${res.statusCode} instead of a WebSocket upgrade`))
        ws.terminate()
      })
      ws.once('open', () => {
        ws.off('error', fail)
        const sub = new FirehoseSubscriber(url, ws)
        sub.extensions = ws.extensions
        resolve(sub)
      })
    })
  }

  private onFrame(at: number, data: WebSocket.RawData, isBinary: boolean): void {
    try {
      if (!isBinary) throw new Error('text frame')
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
      const [header, body] = [...decodeAll(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength))].map(asRecord)
      if (!header || !body) throw new Error('frame is not a header and a body')
      if (header.op === -1) {
        this.problems.push(`error frame ${String(body.error)}: ${String(body.message ?? '')}`)
        return
      }
      const t = String(header.t)
      this.frameCounts.set(t, (this.frameCounts.get(t) ?? 0) + 1)
      const seq = typeof body.seq === 'number' ? body.seq : Number.NaN
      if (t !== '#info') {
        if (!(seq > this.lastSeq)) this.problems.push(`${t} seq ${seq} after seq ${this.lastSeq}`)
        else this.lastSeq = seq
      }
      if (t !== '#commit') return
      const repo = String(body.repo)
      const arrival: CommitArrival = { at, seq, rev: String(body.rev) }
      for (const op of Array.isArray(body.ops) ? body.ops : []) {
        const path = asRecord(op)?.path
        if (typeof path !== 'string') continue
        const key = commitKey(repo, path)
        const waiter = this.waiters.get(key)
        if (waiter) {
          this.waiters.delete(key)
          waiter(arrival)
        } else {
          this.arrivals.set(key, arrival)
        }
      }
    } catch (err) {
      this.problems.push(`undecodable frame: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  /**
   * The arrival of the `#commit` that carries `key`: already seen, or the next
   * one to come; undefined once the subscription closes or `abandonWaiters()`
   * is called. Each arrival is handed out once.
   */
  waitFor(key: string): Promise<CommitArrival | undefined> {
    const seen = this.arrivals.get(key)
    if (seen) {
      this.arrivals.delete(key)
      return Promise.resolve(seen)
    }
    if (this.ws.readyState !== WebSocket.OPEN) return Promise.resolve(undefined)
    return new Promise((resolve) => this.waiters.set(key, resolve))
  }

  /** Resolves every pending waitFor with undefined (the events did not come in time). */
  abandonWaiters(): void {
    for (const resolve of this.waiters.values()) resolve(undefined)
    this.waiters.clear()
  }

  /** Forgets commits nobody asked for (e.g. from the warm-up), so the next workload starts clean. */
  clearUnclaimed(): void {
    this.arrivals.clear()
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  close(): Promise<void> {
    this.closing = true
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.ws.terminate()
        resolve()
      }, 2_000)
      this.ws.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
      this.ws.close()
    })
  }
}
