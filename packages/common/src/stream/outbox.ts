import type { WebSocket } from 'ws'
import { encodeErrorFrame, encodeFrame } from './frames.ts'
import type { EventLog, LogRow } from './event-log.ts'

const PAGE = 500
const HIGH_WATER = 1_000_000

/**
 * One subscriber of a subscribeRepos-style stream: replays from its cursor (backfill), then
 * switches to live with no gap and no duplicate — the switch happens in the
 * same synchronous step as the read that found the log exhausted, so no
 * event can be sequenced in between. Live frames are the log's
 * pre-encoded bytes. A subscriber whose socket buffer passes `maxBufferBytes`
 * is sent `ConsumerTooSlow` and closed; the others are untouched.
 */
export class Outbox {
  private readonly ws: WebSocket
  private readonly log: EventLog
  private readonly maxBufferBytes: number
  private lastSent = 0
  private live = false
  private closed = false
  private readonly onEvents = (rows: LogRow[]) => this.pushLive(rows)

  constructor(ws: WebSocket, log: EventLog, maxBufferBytes: number) {
    this.ws = ws
    this.log = log
    this.maxBufferBytes = maxBufferBytes
    ws.once('close', () => this.stop())
    ws.on('error', () => this.stop())
  }

  async run(cursor: number | undefined): Promise<void> {
    if (cursor === undefined) {
      this.goLive(this.log.currentSeq)
      return
    }
    if (cursor > this.log.currentSeq) {
      this.fail('FutureCursor', 'Cursor in the future.')
      return
    }
    const oldest = this.log.oldestSeq()
    if (oldest !== null && cursor < oldest - 1) {
      this.send(encodeFrame('#info', { name: 'OutdatedCursor', message: 'Requested cursor exceeded limit. Possibly missing events' }))
    }
    this.lastSent = cursor
    for (;;) {
      if (this.closed) return
      const rows = this.log.after(this.lastSent, PAGE)
      if (rows.length === 0) {
        this.goLive(this.lastSent)
        return
      }
      for (const row of rows) {
        this.send(row.frame)
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
        this.send(row.frame)
        this.lastSent = row.seq
      }
    } finally {
      socket?.uncork()
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

  private fail(error: string, message: string): void {
    if (this.closed) return
    this.ws.send(encodeErrorFrame(error, message), { binary: true })
    this.stop()
    this.ws.close(1008, error)
    setTimeout(() => this.ws.terminate(), 2000).unref()
  }

  stop(): void {
    this.closed = true
    this.log.off('events', this.onEvents)
  }
}
