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
    if (!this.live || this.closed) return
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
