import type { WebSocket } from 'ws'
import { encodeErrorFrame, encodeFrame } from './events.ts'
import type { Sequencer, SeqRow } from './sequencer.ts'

const PAGE = 500
const HIGH_WATER = 1_000_000

/**
 * One subscriber of subscribeRepos: replays from its cursor (backfill), then
 * switches to live with no gap and no duplicate — the switch happens in the
 * same synchronous step as the read that found the log exhausted, so no
 * event can be sequenced in between. Live frames are the sequencer's
 * pre-encoded bytes. A subscriber whose socket buffer passes `maxBufferBytes`
 * is sent `ConsumerTooSlow` and closed; the others are untouched.
 */
export class Outbox {
  private readonly ws: WebSocket
  private readonly sequencer: Sequencer
  private readonly maxBufferBytes: number
  private lastSent = 0
  private live = false
  private closed = false
  private readonly onEvents = (rows: SeqRow[]) => this.pushLive(rows)

  constructor(ws: WebSocket, sequencer: Sequencer, maxBufferBytes: number) {
    this.ws = ws
    this.sequencer = sequencer
    this.maxBufferBytes = maxBufferBytes
    ws.once('close', () => this.stop())
    ws.on('error', () => this.stop())
  }

  async run(cursor: number | undefined): Promise<void> {
    if (cursor === undefined) {
      this.goLive(this.sequencer.currentSeq)
      return
    }
    if (cursor > this.sequencer.currentSeq) {
      this.fail('FutureCursor', 'Cursor in the future.')
      return
    }
    const oldest = this.sequencer.oldestSeq()
    if (oldest !== null && cursor < oldest - 1) {
      this.send(encodeFrame('#info', { name: 'OutdatedCursor', message: 'Requested cursor exceeded limit. Possibly missing events' }))
    }
    this.lastSent = cursor
    for (;;) {
      if (this.closed) return
      const rows = this.sequencer.after(this.lastSent, PAGE)
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
    this.sequencer.on('events', this.onEvents)
  }

  private pushLive(rows: SeqRow[]): void {
    if (!this.live || this.closed) return
    for (const row of rows) {
      if (row.seq <= this.lastSent) continue
      if (this.ws.bufferedAmount > this.maxBufferBytes) {
        this.fail('ConsumerTooSlow', 'Stream consumer too slow')
        return
      }
      this.send(row.frame)
      this.lastSent = row.seq
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
    this.sequencer.off('events', this.onEvents)
  }
}
