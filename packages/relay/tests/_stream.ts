/**
 * Raw subscribeRepos consumers for the relay tests: frames are decoded with
 * the project's own `decodeFrame`, seqs and error frames are kept so tests
 * can check gaps, duplicates and close reasons. Waiting is event-driven
 * (checked on each frame and on close); waiting for the relay itself is
 * dev-env's business (`processAll`, `waitForHostCursor`).
 */
import { WebSocket } from 'ws'
import { decodeFrame } from '@atsuite/common'

export type Frame = {
  op: 1 | -1
  /** '#commit', '#sync', … for op 1 */
  type?: string
  body: Record<string, unknown>
  /** error name for op -1 */
  error?: string
}

/** Time passing as part of a scenario (a ban lasting, a bucket refilling) — never to wait for state. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** One raw WebSocket subscriber that keeps every decoded frame. */
export class RawConsumer {
  readonly url: string
  readonly frames: Frame[] = []
  /** messages that were not a valid frame */
  undecodable = 0
  closed = false
  closeCode: number | null = null
  readonly opened: Promise<void>
  private readonly ws: WebSocket
  private readonly listeners = new Set<() => void>()

  constructor(url: string) {
    this.url = url
    this.ws = new WebSocket(url, { perMessageDeflate: false })
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    this.opened.catch(() => undefined)
    this.ws.on('message', (data: Buffer) => {
      try {
        const f = decodeFrame(new Uint8Array(data))
        this.frames.push(f.op === 1 ? { op: 1, type: f.type, body: f.body } : { op: -1, error: f.error, body: { error: f.error, message: f.message } })
      } catch {
        this.undecodable++
      }
      this.notify()
    })
    this.ws.on('error', () => undefined)
    this.ws.on('close', (code) => {
      this.closed = true
      this.closeCode = code
      this.notify()
    })
  }

  /** Message frames only (no error frames). */
  get events(): Frame[] {
    return this.frames.filter((f) => f.op === 1)
  }

  get seqs(): number[] {
    return this.events.map((f) => f.body.seq as number)
  }

  get lastSeq(): number {
    const s = this.seqs
    return s.length ? s[s.length - 1] : 0
  }

  /** Events of one type, optionally for one DID (`repo` on #commit, `did` otherwise). */
  of(type: string, did?: string): Frame[] {
    return this.events.filter((f) => f.type === type && (did === undefined || (f.body.repo ?? f.body.did) === did))
  }

  /** CIDs of the commits of one repo, in stream order. */
  commitCids(did: string): string[] {
    return this.of('#commit', did).map((f) => String(f.body.commit))
  }

  /** Record CIDs written by the ops of one repo's commits (what createRecord/post return), in order. */
  recordCids(did: string): string[] {
    return this.of('#commit', did).flatMap((f) => (f.body.ops as { cid: unknown }[]).filter((op) => op.cid).map((op) => String(op.cid)))
  }

  /** Resolves once `pred` holds, checked on every frame and on close. */
  waitUntil(pred: (c: RawConsumer) => boolean, timeoutMs = 15_000, label = 'frames'): Promise<void> {
    if (pred(this)) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pred(this)) return
        done()
        resolve()
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${label} (have ${this.frames.length} frames, last seq ${this.lastSeq}${this.closed ? `, closed ${this.closeCode}` : ''})`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.listeners.delete(check)
      }
      this.listeners.add(check)
    })
  }

  /** Resolves once the server has closed the connection. */
  waitClosed(timeoutMs = 15_000): Promise<void> {
    return this.waitUntil((c) => c.closed, timeoutMs, 'the connection to close')
  }

  /** Stops reading from the socket (the server's send buffer fills up). */
  pause(): void {
    this.socket().pause()
  }

  resume(): void {
    this.socket().resume()
  }

  close(): void {
    this.ws.terminate()
  }

  private notify(): void {
    for (const l of [...this.listeners]) l()
  }

  private socket(): { pause(): void; resume(): void } {
    return (this.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
  }
}

/** Asserts seqs are strictly increasing by one; returns a description of the first defect, or null. */
export const seqDefect = (seqs: number[], from?: number): string | null => {
  let prev = from ?? (seqs.length ? seqs[0] - 1 : 0)
  for (const s of seqs) {
    if (s === prev) return `duplicate seq ${s}`
    if (s < prev) return `seq went back from ${prev} to ${s}`
    if (s > prev + 1) return `gap: ${prev} then ${s}`
    prev = s
  }
  return null
}
