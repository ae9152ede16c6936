import { EventEmitter } from 'node:events'
import type { MessageQueue, MessageQueueEnqueueOptions, MessageQueueListenOptions } from '@fedify/fedify'
import type { Statement } from 'better-sqlite3'
import type { BridgeDb } from '../db/index.ts'
import { bridgeLogger } from '../logger.ts'
import { isOutboxMessage, type DeliveryLedger } from './delivery.ts'

const POLL_MS = 250
/** due messages read at once */
const TAKE_BATCH = 32
/** finished tasks are recorded together: at most this many, at most this long after the first */
const FLUSH_BATCH = 32
const FLUSH_MS = 5
/** a handler that threw (an unexpected case: Fedify and the ledger handle expected failures) */
const RETRY_MS = 30_000

export type QueueChannel = 'inbox' | 'outbox' | 'fanout'

/**
 * One of Fedify's task queues (inbound activities, deliveries, fan-outs of a
 * post to its followers' inboxes) as rows of one channel in the bridge's
 * SQLite file. Separate channels with their own workers, so that a fan-out of
 * thousands of deliveries never holds back the activities arriving at our
 * inboxes. A message is deleted only once its handler finished, so a restart
 * (or a kill) mid-task resumes where it was rather than losing work; which
 * rows are in hand is kept in memory (one bridge process owns its database,
 * and a restart frees them all). Finished tasks are recorded in batches, at
 * most 5 ms late: a kill in those milliseconds runs them again (deliveries
 * then reach receivers that dedupe by activity id).
 *
 * The outbox channel, given the delivery ledger, sends each delivery through
 * it rather than through Fedify's handler, and in one transaction deletes the
 * row, records the outcome and queues the retry.
 */
export class SqliteMessageQueue implements MessageQueue {
  readonly nativeRetrial = false
  readonly channel: QueueChannel
  private readonly db: BridgeDb
  private readonly workers: number
  private readonly ledger: DeliveryLedger | undefined
  private readonly wake = new EventEmitter()
  private readonly taken = new Set<number>()
  private readonly stmt: Record<'insert' | 'next' | 'done' | 'retry' | 'depth', Statement>
  /** due messages read ahead (and marked in hand), not yet started */
  private buffer: { id: number; message: string }[] = []
  /** finished tasks whose writes wait for the next flush */
  private pending: { id: number; writes: () => void; after?: () => void }[] = []
  private flushTimer: NodeJS.Timeout | undefined

  /** `workers`: messages of this channel handled at once (deliveries to different inboxes wait on the network, not on us) */
  constructor(db: BridgeDb, opts: { channel: QueueChannel; workers: number; ledger?: DeliveryLedger }) {
    this.db = db
    this.channel = opts.channel
    this.workers = opts.workers
    this.ledger = opts.ledger
    this.wake.setMaxListeners(100)
    // prepared once: every delivery takes and deletes a row
    const sql = db.sqlite
    this.stmt = {
      insert: sql.prepare('INSERT INTO queue (channel, message, runAt) VALUES (?, ?, ?)'),
      // the channel's due rows in order, through the (channel, runAt, id) index
      next: sql.prepare('SELECT id, message FROM queue WHERE channel = ? AND runAt <= ? ORDER BY runAt, id LIMIT ?'),
      done: sql.prepare('DELETE FROM queue WHERE id = ?'),
      retry: sql.prepare('UPDATE queue SET runAt = ? WHERE id = ?'),
      depth: sql.prepare('SELECT count(*) AS n FROM queue WHERE channel = ?'),
    }
  }

  async enqueue(message: unknown, options?: MessageQueueEnqueueOptions): Promise<void> {
    await this.enqueueMany([message], options)
  }

  enqueueMany = async (messages: unknown[], options?: MessageQueueEnqueueOptions): Promise<void> => {
    const runAt = Date.now() + (options?.delay ? options.delay.total({ unit: 'millisecond' }) : 0)
    if (messages.length === 0) return
    this.db.transaction(() => {
      for (const m of messages) this.stmt.insert.run(this.channel, JSON.stringify(this.ledger && isOutboxMessage(m) ? this.ledger.forQueue(m) : m), runAt)
    })
    this.wake.emit('message')
  }

  /** Messages waiting in this channel (due or delayed): what a restart would resume. */
  depth(): number {
    return (this.stmt.depth.get(this.channel) as { n: number }).n
  }

  /**
   * The oldest due message no worker has in hand. Due messages are read a
   * batch at a time (one query for up to `TAKE_BATCH` rather than one each).
   */
  private take(): { id: number; message: string } | undefined {
    if (this.buffer.length === 0) {
      const rows = this.stmt.next.all(this.channel, Date.now(), TAKE_BATCH + this.taken.size) as { id: number; message: string }[]
      for (const r of rows) {
        if (this.taken.has(r.id)) continue
        this.taken.add(r.id)
        this.buffer.push(r)
      }
    }
    return this.buffer.shift()
  }

  /**
   * A finished task's writes (its row deleted, a delivery's outcome and
   * retry), committed with the others finished within `FLUSH_MS` in one
   * transaction; its row stays "in hand" until then so nobody takes it again.
   */
  private complete(id: number, writes: () => void, after?: () => void): void {
    this.pending.push({ id, writes, after })
    if (this.pending.length >= FLUSH_BATCH) this.flush()
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS)
  }

  private flush(): void {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const batch = this.pending
    this.pending = []
    if (batch.length === 0) return
    try {
      this.db.transaction(() => {
        for (const p of batch) p.writes()
      })
    } catch (err) {
      bridgeLogger.error({ err, channel: this.channel, tasks: batch.length }, 'finished tasks could not be recorded; they run again')
    } finally {
      for (const p of batch) {
        this.taken.delete(p.id)
        p.after?.()
      }
    }
  }

  /** `workers` loops, each taking the next due message and deleting it once its handler has finished. */
  async listen(handler: (message: unknown) => Promise<void> | void, options?: MessageQueueListenOptions): Promise<void> {
    try {
      await Promise.all(Array.from({ length: this.workers }, () => this.work(handler, options?.signal)))
    } finally {
      this.flush()
      // what was read ahead but not started is left for the next start
      for (const r of this.buffer) this.taken.delete(r.id)
      this.buffer = []
    }
  }

  private async work(handler: (message: unknown) => Promise<void> | void, signal: AbortSignal | undefined): Promise<void> {
    while (!signal?.aborted) {
      const row = this.take()
      if (!row) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer)
            this.wake.off('message', done)
            signal?.removeEventListener('abort', done)
            resolve()
          }
          const timer = setTimeout(done, POLL_MS)
          this.wake.on('message', done)
          signal?.addEventListener('abort', done)
        })
        continue
      }
      try {
        const message: unknown = JSON.parse(row.message)
        if (this.ledger && isOutboxMessage(message)) {
          const ledger = this.ledger
          const outcome = await ledger.deliver(message)
          this.complete(
            row.id,
            () => {
              this.stmt.done.run(row.id)
              ledger.record(message, outcome)
              if (outcome.kind === 'failed' && outcome.retryInMs !== null) {
                this.stmt.insert.run(this.channel, JSON.stringify({ ...message, attempt: message.attempt + 1 }), Date.now() + outcome.retryInMs)
              }
            },
            () => ledger.release(message, outcome),
          )
        } else {
          await handler(message)
          this.complete(row.id, () => this.stmt.done.run(row.id))
        }
      } catch (err) {
        bridgeLogger.warn({ err, channel: this.channel }, 'queued task failed; retrying later')
        this.complete(row.id, () => this.stmt.retry.run(Date.now() + RETRY_MS, row.id))
      }
    }
  }
}
