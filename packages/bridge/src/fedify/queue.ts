import { EventEmitter } from 'node:events'
import type { MessageQueue, MessageQueueEnqueueOptions, MessageQueueListenOptions } from '@fedify/fedify'
import type { BridgeDb } from '../db/index.ts'
import { bridgeLogger } from '../logger.ts'

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
  private readonly wake = new EventEmitter()

  constructor(db: BridgeDb) {
    this.db = db
    this.wake.setMaxListeners(100)
  }

  async enqueue(message: unknown, options?: MessageQueueEnqueueOptions): Promise<void> {
    await this.enqueueMany([message], options)
  }

  enqueueMany = async (messages: unknown[], options?: MessageQueueEnqueueOptions): Promise<void> => {
    const runAt = Date.now() + (options?.delay ? options.delay.total({ unit: 'millisecond' }) : 0)
    if (messages.length === 0) return
    await this.db.kysely
      .insertInto('queue')
      .values(messages.map((m) => ({ message: JSON.stringify(m), runAt, lockedUntil: 0 })))
      .execute()
    this.wake.emit('message')
  }

  /** Messages waiting (due or delayed): what a restart would resume. */
  depth(): number {
    return (this.db.sqlite.prepare('SELECT count(*) AS n FROM queue').get() as { n: number }).n
  }

  private take(): { id: number; message: string } | undefined {
    return this.db.transaction(() => {
      const now = Date.now()
      const row = this.db.sqlite
        .prepare('SELECT id, message FROM queue WHERE runAt <= ? AND lockedUntil <= ? ORDER BY runAt, id LIMIT 1')
        .get(now, now) as { id: number; message: string } | undefined
      if (row) this.db.sqlite.prepare('UPDATE queue SET lockedUntil = ? WHERE id = ?').run(now + LEASE_MS, row.id)
      return row
    })
  }

  async listen(handler: (message: unknown) => Promise<void> | void, options?: MessageQueueListenOptions): Promise<void> {
    const signal = options?.signal
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
        await handler(JSON.parse(row.message))
        this.db.sqlite.prepare('DELETE FROM queue WHERE id = ?').run(row.id)
      } catch (err) {
        bridgeLogger.warn({ err }, 'queued task failed; retrying later')
        this.db.sqlite.prepare('UPDATE queue SET lockedUntil = 0, runAt = ? WHERE id = ?').run(Date.now() + RETRY_MS, row.id)
      }
    }
  }
}
