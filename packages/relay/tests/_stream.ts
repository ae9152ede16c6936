/**
 * Raw subscribeRepos consumers and polling helpers for the relay tests:
 * frames are decoded with the project's own `decodeFrame`, seqs and error
 * frames are kept so tests can check gaps, duplicates and close reasons.
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

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Polls `cond` (sync or async) every 25 ms; the label names what never happened. */
export const waitFor = async (cond: () => boolean | Promise<boolean>, timeoutMs = 15_000, label = 'condition'): Promise<void> => {
  const start = Date.now()
  for (;;) {
    if (await cond()) return
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}`)
    await sleep(25)
  }
}

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
    })
    this.ws.on('error', () => undefined)
    this.ws.on('close', (code) => {
      this.closed = true
      this.closeCode = code
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

  async waitUntil(pred: (c: RawConsumer) => boolean, timeoutMs = 15_000, label = 'frames'): Promise<void> {
    await waitFor(() => pred(this), timeoutMs, `${label} (have ${this.frames.length} frames, last seq ${this.lastSeq})`)
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
