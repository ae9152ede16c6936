import { EventEmitter } from 'node:events'
import Database from 'better-sqlite3'
import { immediateTransaction, type SqliteHandle } from '../db.ts'
import { encodeFrame } from './frames.ts'
import { WalCheckpointer } from '../wal-checkpointer.ts'
import { WalWriteback } from '../wal-writeback.ts'
import type { StoreCheckpointer } from '../store-checkpointer.ts'

/** The appending connection checkpoints by itself only past ~100 MB of log, if the thread falls behind. */
const WRITER_CHECKPOINT_PAGES = 25_000
/** With no thread (`checkpointer: 'writer'`), it copies its log back every ~16 MiB of it. */
export const SELF_CHECKPOINT_PAGES = 4_000
/** A writer that checkpoints by itself has its log synced off the thread about this often (common's WalWriteback): a quarter of its bound. */
export const SELF_CHECKPOINT_WRITEBACK_PAGES = SELF_CHECKPOINT_PAGES / 4

export type LogEvent = {
  did: string
  type: string
  body: Record<string, unknown>
  /** the whole frame for a seq, when the producer has it already encoded (a relay splicing its seq into upstream bytes); used instead of encoding `body` */
  encoded?: (seq: number) => Uint8Array
  /** performance.now() when the producer received it (a relay measures its own latency from there); not stored */
  receivedAt?: number
}
/** `timeUs`: when it was sequenced, in microseconds, strictly increasing with seq (null on rows older than the column) */
export type LogRow = { seq: number; did: string; type: string; frame: Buffer; sequencedAt: string; timeUs: number | null }

/** Told once a batch queued with `appendSoon` is written (`err` null) or refused (the batch's seqs are free again). */
export type AppendDone = (err: unknown) => void

/**
 * An append-only, cursor-addressable event log in SQLite: the database is the
 * queue. `append()` assigns the next seqs, encodes each frame once (with its
 * seq), commits, and emits the rows to live subscribers synchronously — no
 * polling. `trim()` drops events older than the retention window.
 *
 * `appendSoon()` is the deferred form: the events get their seqs now
 * (`nextSeq` counts them) and are written with everything else queued in
 * the same turn, in one transaction, once the turn's other work is done
 * (`setImmediate`). A PDS queues each commit's event this way, so the HTTP
 * answer goes out before the log write and concurrent commits share one.
 * Every read, `append()` and `close()` writes the queue first, so seqs stay
 * in order and nothing queued is missed by a reader.
 */
export class EventLog extends EventEmitter<{ events: [LogRow[]] }> {
  readonly db: SqliteHandle
  private lastSeq: number
  private lastTimeUs: number
  private readonly insert: Database.Statement
  private readonly afterStmt: Database.Statement
  private atStmt: Database.Statement | undefined
  private timeStmt: Database.Statement | undefined
  private readonly retentionMs: number
  private timer: NodeJS.Timeout | null = null
  /** copies the log's WAL into its file every second, so no append waits for a checkpoint's fsyncs (none: shared or 'writer') */
  private readonly checkpointer: WalCheckpointer | null
  /** or, instead of a thread of the log's own, a thread shared with other stores (told of each write; not ours to close) */
  private readonly shared: StoreCheckpointer | null
  /** with no thread ('writer'): the log synced off the thread on the way to each checkpoint (common's WalWriteback) */
  private readonly writeback: WalWriteback | null
  private readonly location: string
  /** queued by appendSoon, in seq order after lastSeq */
  private queued: { events: LogEvent[]; done: AppendDone }[] = []
  private queuedCount = 0
  private flushScheduled = false

  /**
   * `checkpointer`: by default a thread of the log's own copies its WAL back
   * every second. A StoreCheckpointer already running for other files (a
   * PDS's account stores) can do it instead, so the process runs one
   * checkpoint thread instead of two (each thread is ~20 MiB of RSS); or
   * `'writer'`: no thread, the appending connection checkpoints by itself
   * every SELF_CHECKPOINT_PAGES (a copy and two fsyncs inside the append
   * that crosses the bound).
   */
  constructor(location: string, opts: { retentionMs: number; checkpointer?: StoreCheckpointer | 'writer' }) {
    super()
    this.location = location
    this.setMaxListeners(0)
    this.retentionMs = opts.retentionMs
    this.db = new Database(location)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = NORMAL')
    this.db.pragma('busy_timeout = 5000')
    this.db.pragma(`wal_autocheckpoint = ${opts.checkpointer === 'writer' ? SELF_CHECKPOINT_PAGES : WRITER_CHECKPOINT_PAGES}`)
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS event_log (
        seq integer PRIMARY KEY,
        did varchar NOT NULL,
        type varchar NOT NULL,
        frame blob NOT NULL,
        sequencedAt varchar NOT NULL
      );
      -- trimming finds its cutoff by binary search over seqs (times grow with seq): an index on
      -- time cost every append an extra B-tree insert (~20% of an append)
      DROP INDEX IF EXISTS event_log_time_idx;
    `)
    const columns = this.db.prepare('PRAGMA table_info(event_log)').all() as { name: string }[]
    if (!columns.some((c) => c.name === 'timeUs')) this.db.exec('ALTER TABLE event_log ADD COLUMN timeUs integer')
    const last = this.db.prepare('SELECT seq, timeUs FROM event_log ORDER BY seq DESC LIMIT 1').get() as
      | { seq: number; timeUs: number | null }
      | undefined
    this.lastSeq = last?.seq ?? 0
    this.lastTimeUs = last?.timeUs ?? 0
    this.insert = this.db.prepare('INSERT INTO event_log (seq, did, type, frame, sequencedAt, timeUs) VALUES (?, ?, ?, ?, ?, ?)')
    this.afterStmt = this.db.prepare(
      'SELECT seq, did, type, frame, sequencedAt, timeUs FROM event_log WHERE seq > ? ORDER BY seq LIMIT ?',
    )
    const mode = opts.checkpointer
    this.shared = mode && mode !== 'writer' && location !== ':memory:' ? mode : null
    this.checkpointer = mode === undefined ? WalCheckpointer.forFile(location, { intervalMs: 1000, synchronous: 'normal' }) : null
    this.writeback = mode === 'writer' && location !== ':memory:' ? new WalWriteback(location, SELF_CHECKPOINT_WRITEBACK_PAGES) : null
  }

  get currentSeq(): number {
    return this.lastSeq
  }

  /**
   * The seq the next appended event gets, counting what is queued (appends
   * and queueing are synchronous, so this holds until the next of them).
   */
  get nextSeq(): number {
    return this.lastSeq + this.queuedCount + 1
  }

  /** Who and what is at a seq, if retained. */
  at(seq: number): { did: string; type: string } | undefined {
    this.flushQueued()
    this.atStmt ??= this.db.prepare('SELECT did, type FROM event_log WHERE seq = ?')
    return this.atStmt.get(seq) as { did: string; type: string } | undefined
  }

  oldestSeq(): number | null {
    this.flushQueued()
    return (this.db.prepare('SELECT min(seq) AS s FROM event_log').get() as { s: number | null }).s
  }

  /** Appends events in one transaction (after anything queued) and pushes them to subscribers. Synchronous. */
  append(events: LogEvent[]): LogRow[] {
    this.flushQueued()
    return this.write(events)
  }

  /**
   * Reserves the next seqs for `events` and writes them at the end of this
   * turn, together with whatever else was queued meanwhile; `done` is told
   * how that went. Until then they are in no read.
   */
  appendSoon(events: LogEvent[], done: AppendDone): void {
    if (events.length === 0) return done(null)
    this.queued.push({ events, done })
    this.queuedCount += events.length
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => this.flushQueued())
  }

  /** Whether an event of `did` is queued by appendSoon and not written yet. */
  hasQueued(did: string): boolean {
    return this.queued.some((b) => b.events.some((e) => e.did === did))
  }

  /** Writes what `appendSoon` queued, in one transaction. Never throws: a refusal goes to each `done`. */
  flushQueued(): void {
    this.flushScheduled = false
    if (this.queued.length === 0) return
    const batch = this.queued
    this.queued = []
    this.queuedCount = 0
    let err: unknown = null
    try {
      this.write(batch.flatMap((b) => b.events))
    } catch (e) {
      err = e
    }
    for (const b of batch) b.done(err)
  }

  private write(events: LogEvent[]): LogRow[] {
    if (events.length === 0) return []
    const ms = Date.now()
    const now = new Date(ms).toISOString()
    const rows: LogRow[] = []
    let timeUs = Math.max(ms * 1000, this.lastTimeUs + 1)
    immediateTransaction(this.db, () => {
      for (const evt of events) {
        const seq = this.lastSeq + 1 + rows.length
        const frame = Buffer.from(evt.encoded ? evt.encoded(seq) : encodeFrame(evt.type, { seq, ...evt.body }))
        this.insert.run(seq, evt.did, evt.type, frame, now, timeUs)
        rows.push({ seq, did: evt.did, type: evt.type, frame, sequencedAt: now, timeUs })
        timeUs++
      }
    })
    this.lastSeq += rows.length
    this.lastTimeUs = timeUs - 1
    this.shared?.touch(this.location)
    if (this.writeback) {
      // each frame's pages (a large one overflows), and the table's leaf
      let pages = 1
      for (const r of rows) pages += Math.ceil(r.frame.length / 4096)
      this.writeback.note(pages)
    }
    this.emit('events', rows)
    return rows
  }

  /**
   * The first retained seq sequenced at or after `timeUs` (microseconds), or
   * `currentSeq + 1` when none is. A binary search over seqs (times grow with
   * seq), so it needs no index; rows older than the timeUs column count by
   * their sequencedAt.
   */
  seqAtTime(timeUs: number): number {
    this.flushQueued()
    this.timeStmt ??= this.db.prepare('SELECT timeUs, sequencedAt FROM event_log WHERE seq = ?')
    const timeOf = (seq: number): number | undefined => {
      const row = this.timeStmt!.get(seq) as { timeUs: number | null; sequencedAt: string } | undefined
      if (!row) return undefined
      return row.timeUs ?? Date.parse(row.sequencedAt) * 1000
    }
    let lo = this.oldestSeq() ?? this.lastSeq + 1
    let hi = this.lastSeq + 1
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2)
      const t = timeOf(mid)
      // a hole (trimmed concurrently) counts as older
      if (t === undefined || t < timeUs) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Events after a seq, oldest first. */
  after(seq: number, limit: number): LogRow[] {
    this.flushQueued()
    return this.afterStmt.all(seq, limit) as LogRow[]
  }

  /** Drops the events sequenced before the retention window: a prefix of the log, found by seqAtTime. */
  trim(now = Date.now()): number {
    const keepFrom = this.seqAtTime((now - this.retentionMs) * 1000)
    const dropped = this.db.prepare('DELETE FROM event_log WHERE seq < ?').run(keepFrom).changes
    if (dropped > 0) this.shared?.touch(this.location)
    return dropped
  }

  startTrimming(onError: (err: unknown) => void, intervalMs = 60_000): void {
    if (this.timer) return
    this.timer = setInterval(() => {
      try {
        this.trim()
      } catch (err) {
        onError(err)
      }
    }, intervalMs)
    this.timer.unref()
  }

  /**
   * Writes what is queued and closes the connection at once; resolves once
   * the log's own checkpoint thread (if it has one) has stopped, so a caller
   * that then removes the files does not race a checkpoint still running.
   */
  close(): Promise<void> {
    if (this.db.open) this.flushQueued()
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.removeAllListeners()
    const stopped = Promise.all([this.checkpointer?.close(), this.writeback?.settled()]).then(() => undefined)
    if (this.db.open) this.db.close()
    return stopped
  }
}
