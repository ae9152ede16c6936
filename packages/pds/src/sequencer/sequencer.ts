import { EventEmitter } from 'node:events'
import Database from 'better-sqlite3'
import type { SqliteHandle } from '@atsuite/common'
import { encodeFrame, type PendingEvent } from './events.ts'
import { seqLogger } from '../logger.ts'

export type SeqRow = { seq: number; did: string; type: string; frame: Buffer; sequencedAt: string }

/**
 * The PDS's event log (`<data>/sequencer.sqlite`). `sequence()` assigns the
 * next seq, encodes the frame once, appends it, and emits it to live
 * subscribers — synchronously, in the same tick as the repo commit it
 * describes (no polling, no backoff). Events older than the retention window
 * are deleted by `trim()`.
 */
export class Sequencer extends EventEmitter<{ events: [SeqRow[]] }> {
  readonly db: SqliteHandle
  private lastSeq: number
  private readonly insert: Database.Statement
  private timer: NodeJS.Timeout | null = null
  private readonly retentionMs: number

  constructor(location: string, opts: { retentionMs: number }) {
    super()
    this.setMaxListeners(0)
    this.retentionMs = opts.retentionMs
    this.db = new Database(location)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = NORMAL')
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS repo_seq (
        seq integer PRIMARY KEY,
        did varchar NOT NULL,
        type varchar NOT NULL,
        frame blob NOT NULL,
        sequencedAt varchar NOT NULL
      );
      -- retention trimming and OutdatedCursor checks by time
      CREATE INDEX IF NOT EXISTS repo_seq_time_idx ON repo_seq (sequencedAt);
    `)
    this.lastSeq = (this.db.prepare('SELECT max(seq) AS s FROM repo_seq').get() as { s: number | null }).s ?? 0
    this.insert = this.db.prepare('INSERT INTO repo_seq (seq, did, type, frame, sequencedAt) VALUES (?, ?, ?, ?, ?)')
  }

  get currentSeq(): number {
    return this.lastSeq
  }

  oldestSeq(): number | null {
    return (this.db.prepare('SELECT min(seq) AS s FROM repo_seq').get() as { s: number | null }).s
  }

  /** Appends events (one transaction) and pushes them to subscribers. Synchronous. */
  sequence(events: PendingEvent[]): SeqRow[] {
    if (events.length === 0) return []
    const now = new Date().toISOString()
    const rows: SeqRow[] = []
    this.db.transaction(() => {
      for (const evt of events) {
        const seq = this.lastSeq + 1 + rows.length
        const frame = Buffer.from(encodeFrame(evt.type, { seq, ...evt.body }))
        this.insert.run(seq, evt.did, evt.type, frame, now)
        rows.push({ seq, did: evt.did, type: evt.type, frame, sequencedAt: now })
      }
    }).immediate()
    this.lastSeq += rows.length
    this.emit('events', rows)
    return rows
  }

  /** Events after a seq, oldest first. */
  after(seq: number, limit: number): SeqRow[] {
    return this.db
      .prepare('SELECT seq, did, type, frame, sequencedAt FROM repo_seq WHERE seq > ? ORDER BY seq LIMIT ?')
      .all(seq, limit) as SeqRow[]
  }

  trim(now = Date.now()): number {
    const cutoff = new Date(now - this.retentionMs).toISOString()
    return this.db.prepare('DELETE FROM repo_seq WHERE sequencedAt < ?').run(cutoff).changes
  }

  start(): void {
    this.timer = setInterval(() => {
      try {
        this.trim()
      } catch (err) {
        seqLogger.warn({ err }, 'trim failed')
      }
    }, 60_000)
    this.timer.unref()
  }

  close(): void {
    if (this.timer) clearInterval(this.timer)
    this.removeAllListeners()
    if (this.db.open) this.db.close()
  }
}
