import { EventEmitter } from 'node:events'
import type { MessageQueue, MessageQueueEnqueueOptions, MessageQueueListenOptions } from '@fedify/fedify'
import type { Statement } from 'better-sqlite3'
import type { BridgeDb } from '../db/index.ts'
import { bridgeLogger } from '../logger.ts'
import { isOutboxMessage, type DeliveryLedger } from './delivery.ts'

const POLL_MS = 250
/** a taken message not finished by then is taken again (the worker died) */
const LEASE_MS = 60_000
/** a handler that threw (Fedify retries deliveries itself; this is the unexpected case) */
const RETRY_MS = 30_000

/**
 * Fedify's task queue (fan-out of a post to its followers' inboxes, each
 * delivery, each inbound activity) as rows in the bridge's SQLite file: a
 * message is deleted only once its handler finished, so a restart (or a
 * kill) mid-delivery resumes where it was rather than losing work. Fedify
 * does the retrying with backoff by enqueueing again with a delay.
 */
export class SqliteMessageQueue implements MessageQueue {
  readonly nativeRetrial = false
  private readonly db: BridgeDb
  private readonly workers: number
  private readonly ledger: DeliveryLedger | undefined
  private readonly wake = new EventEmitter()
  private readonly stmt: {
    insert: Statement
    next: Statement
    lease: Statement
    done: Statement
    retry: Statement
    depth: Statement
  }

  /**
   * `workers`: messages handled at once (deliveries to different inboxes wait on the network, not on us);
   * `ledger`: deliveries already made or to dead instances are dropped, and each one's outcome recorded.
   */
  constructor(db: BridgeDb, workers = 8, ledger?: DeliveryLedger) {
    this.db = db
    this.workers = workers
    this.ledger = ledger
    this.wake.setMaxListeners(100)
    // prepared once: every delivery takes, leases and deletes a row
    const sql = db.sqlite
    this.stmt = {
      insert: sql.prepare('INSERT INTO queue (message, runAt, lockedUntil) VALUES (?, ?, 0)'),
      next: sql.prepare('SELECT id, message FROM queue WHERE runAt <= ? AND lockedUntil <= ? ORDER BY runAt, id LIMIT 1'),
      lease: sql.prepare('UPDATE queue SET lockedUntil = ? WHERE id = ?'),
      done: sql.prepare('DELETE FROM queue WHERE id = ?'),
      retry: sql.prepare('UPDATE queue SET lockedUntil = 0, runAt = ? WHERE id = ?'),
      depth: sql.prepare('SELECT count(*) AS n FROM queue'),
    }
  }

  async enqueue(message: unknown, options?: MessageQueueEnqueueOptions): Promise<void> {
    await this.enqueueMany([message], options)
  }

  enqueueMany = async (messages: unknown[], options?: MessageQueueEnqueueOptions): Promise<void> => {
    const runAt = Date.now() + (options?.delay ? options.delay.total({ unit: 'millisecond' }) : 0)
    if (messages.length === 0) return
    this.db.transaction(() => {
      for (const m of messages) this.stmt.insert.run(JSON.stringify(m), runAt)
    })
    this.wake.emit('message')
  }

  /** Messages waiting (due or delayed): what a restart would resume. */
  depth(): number {
    return (this.stmt.depth.get() as { n: number }).n
  }

  private take(): { id: number; message: string } | undefined {
    return this.db.transaction(() => {
      const now = Date.now()
      const row = this.stmt.next.get(now, now) as { id: number; message: string } | undefined
      if (row) this.stmt.lease.run(now + LEASE_MS, row.id)
      return row
    })
  }

  /** `workers` loops, each taking the next due message and deleting it once its handler has finished. */
  async listen(handler: (message: unknown) => Promise<void> | void, options?: MessageQueueListenOptions): Promise<void> {
    await Promise.all(Array.from({ length: this.workers }, () => this.work(handler, options?.signal)))
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
          if (this.ledger.shouldSend(message)) await this.ledger.run(message, () => handler(message))
        } else {
          await handler(message)
        }
        this.stmt.done.run(row.id)
      } catch (err) {
        bridgeLogger.warn({ err }, 'queued task failed; retrying later')
        this.stmt.retry.run(Date.now() + RETRY_MS, row.id)
      }
    }
  }
}
