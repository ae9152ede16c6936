import type { WebSocket } from 'ws'
import { encodeErrorFrame, encodeFrame } from './frames.ts'
import type { EventLog, LogRow } from './event-log.ts'

const PAGE = 500
/** how long a refused subscriber has to read its error frame and close before the socket is cut */
const CLOSE_GRACE_MS = 10_000
const HIGH_WATER = 1_000_000

export type OutboxOptions = {
  /** a subscriber whose socket buffer passes this is refused with `ConsumerTooSlow` */
  maxBufferBytes: number
  /**
   * The messages one log row is for this subscriber (a filtered JSON stream),
   * sent as text; by default the row's frame, sent as binary. Called again
   * for each row, so it may read state that changes (a filter).
   */
  messages?: (row: LogRow) => Iterable<Uint8Array>
  /**
   * How a refusal reaches the subscriber before the close (1008, `error`):
   * an atproto error frame (the default) or nothing (a JSON stream).
   */
  errorFrames?: boolean
}

type RawSocket = { write(b: Uint8Array): boolean }
type WsInternals = { readyState: number; _socket?: RawSocket; _sender?: { _bufferedBytes: number; _queue: unknown[] } }

/**
 * The subscriber's socket, when a message written to it directly lands in
 * order: the WebSocket is open and its sender holds nothing back (it queues
 * only while compressing or reading a Blob, neither of which happens here).
 */
const rawSocket = (ws: WebSocket): RawSocket | null => {
  const w = ws as unknown as WsInternals
  if (w.readyState !== 1 || !w._socket || !w._sender || w._sender._bufferedBytes !== 0 || w._sender._queue.length !== 0) return null
  return w._socket
}

const wire = new WeakMap<LogRow[], Buffer>()

/**
 * A batch of rows as unmasked, unfragmented binary WebSocket messages (RFC
 * 6455 §5.2), in one buffer: what `ws.send(frame)` writes for each, built once
 * per batch instead of once per row and subscriber.
 */
export const wireFrames = (rows: LogRow[]): Buffer => {
  const cached = wire.get(rows)
  if (cached) return cached
  let size = 0
  for (const row of rows) size += wsHeaderLength(row.frame.length) + row.frame.length
  const out = Buffer.allocUnsafe(size)
  let o = 0
  for (const row of rows) {
    const n = row.frame.length
    out[o++] = 0x82 // FIN, binary
    if (n < 126) out[o++] = n
    else if (n < 0x10000) {
      out[o++] = 126
      out.writeUInt16BE(n, o)
      o += 2
    } else {
      out[o++] = 127
      out.writeUInt32BE(Math.floor(n / 0x100000000), o)
      out.writeUInt32BE(n >>> 0, o + 4)
      o += 8
    }
    out.set(row.frame, o)
    o += n
  }
  wire.set(rows, out)
  return out
}

const wsHeaderLength = (n: number): number => (n < 126 ? 2 : n < 0x10000 ? 4 : 10)

/**
 * One subscriber of a log-backed stream: replays from a point (backfill),
 * then switches to live with no gap and no duplicate — the switch happens in
 * the same synchronous step as the read that found the log exhausted, so no
 * event can be sequenced in between. Live messages of the default kind are
 * the log's pre-encoded frames. A subscriber whose socket buffer exceeds
 * `maxBufferBytes` is sent `ConsumerTooSlow` and closed; the others are
 * untouched. `run` is subscribeRepos's cursor semantics; `stream` is the
 * replay-then-live core other streams (the relay's Jetstream) use.
 */
export class Outbox {
  private readonly ws: WebSocket
  private readonly log: EventLog
  private readonly maxBufferBytes: number
  private readonly messages: ((row: LogRow) => Iterable<Uint8Array>) | undefined
  private readonly errorFrames: boolean
  private lastSent = 0
  private live = false
  private closed = false
  private readonly onEvents = (rows: LogRow[]) => this.pushLive(rows)

  constructor(ws: WebSocket, log: EventLog, opts: OutboxOptions) {
    this.ws = ws
    this.log = log
    this.maxBufferBytes = opts.maxBufferBytes
    this.messages = opts.messages
    this.errorFrames = opts.errorFrames ?? true
    ws.once('close', () => this.stop())
    ws.on('error', () => this.stop())
  }

  /** subscribeRepos: `cursor` absent = live; in the future = FutureCursor; older than retention = #info OutdatedCursor, then all retained. */
  async run(cursor: number | undefined): Promise<void> {
    if (cursor === undefined) return this.stream(undefined)
    if (cursor > this.log.currentSeq) {
      this.fail('FutureCursor', 'Cursor in the future.')
      return
    }
    const oldest = this.log.oldestSeq()
    if (oldest !== null && cursor < oldest - 1) {
      this.send(encodeFrame('#info', { name: 'OutdatedCursor', message: 'Requested cursor exceeded limit. Possibly missing events' }))
    }
    return this.stream(cursor)
  }

  /** Everything after seq `after` (none: from now on), then live. */
  async stream(after: number | undefined): Promise<void> {
    if (after === undefined) {
      this.goLive(this.log.currentSeq)
      return
    }
    this.lastSent = after
    for (;;) {
      if (this.closed) return
      const rows = this.log.after(this.lastSent, PAGE)
      if (rows.length === 0) {
        this.goLive(this.lastSent)
        return
      }
      for (const row of rows) {
        this.sendRow(row)
        this.lastSent = row.seq
      }
      await this.drain()
    }
  }

  private goLive(from: number): void {
    this.lastSent = from
    this.live = true
    this.log.on('events', this.onEvents)
  }

  private pushLive(rows: LogRow[]): void {
    if (!this.live || this.closed || rows.length === 0) return
    const raw = this.messages ? null : rawSocket(this.ws)
    if (raw && rows[0].seq > this.lastSent) {
      // the whole batch as the WebSocket messages it makes, built once and shared by every subscriber
      if (this.ws.bufferedAmount > this.maxBufferBytes) return this.fail('ConsumerTooSlow', 'Stream consumer too slow')
      raw.write(wireFrames(rows))
      this.lastSent = rows[rows.length - 1].seq
      return
    }
    // one write syscall for the whole batch instead of one per frame
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket
    socket?.cork()
    try {
      for (const row of rows) {
        if (row.seq <= this.lastSent) continue
        if (this.ws.bufferedAmount > this.maxBufferBytes) {
          this.fail('ConsumerTooSlow', 'Stream consumer too slow')
          return
        }
        this.sendRow(row)
        this.lastSent = row.seq
      }
    } finally {
      socket?.uncork()
    }
  }

  private sendRow(row: LogRow): void {
    if (!this.messages) return this.send(row.frame)
    for (const m of this.messages(row)) {
      if (this.closed) return
      this.ws.send(m, { binary: false })
    }
  }

  private send(frame: Uint8Array): void {
    if (!this.closed) this.ws.send(frame, { binary: true })
  }

  private async drain(): Promise<void> {
    while (!this.closed && this.ws.bufferedAmount > HIGH_WATER) {
      await new Promise((r) => setTimeout(r, 5))
    }
  }

  /** Refuses the subscriber: an error frame (unless `errorFrames` is off), then close 1008. */
  fail(error: string, message: string): void {
    if (this.closed) return
    if (this.errorFrames) this.ws.send(encodeErrorFrame(error, message), { binary: true })
    this.stop()
    // with no error frame, the close reason carries the message (a close reason is at most 123 bytes)
    this.ws.close(1008, this.errorFrames ? error : `${error}: ${message}`.slice(0, 120))
    // a consumer that reads nothing more (a stalled process) loses the socket, buffers and all
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref()
  }

  stop(): void {
    this.closed = true
    this.log.off('events', this.onEvents)
  }
}
