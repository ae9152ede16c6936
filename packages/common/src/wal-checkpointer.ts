import { Worker } from 'node:worker_threads'
import { subsystemLogger } from './logger.ts'

const log = subsystemLogger('db:checkpoint')

export type WalCheckpointerOptions = {
  /** how often the thread checkpoints what the WAL holds, ms */
  intervalMs: number
  /** the synchronous setting of the database's writers (a checkpoint fsyncs unless `off`) */
  synchronous: 'normal' | 'off'
}

export type CheckpointStats = {
  /** checkpoints run that found something new in the log */
  checkpoints: number
  /** time spent in them, ms */
  busyMs: number
  /** frames (pages) in the log, and how many of them are copied, as of the last one */
  walFrames: number
  copiedFrames: number
}

type FromThread = { type: 'ready' } | { type: 'stats'; stats: CheckpointStats } | { type: 'error'; message: string }

/**
 * Checkpoints a WAL-mode SQLite file from a thread of its own, so that the
 * connection writing the file never pays for copying its log back into the
 * database (on a write-heavy indexer that copy was a quarter of its thread's
 * time). The checkpoints are PASSIVE: they copy what no reader still needs
 * and never wait for or block a writer. The log restarts from its beginning
 * at the first write after a checkpoint that copied everything, so a writer
 * that pauses between its transactions keeps it short; writers should still
 * keep a (large) `wal_autocheckpoint` of their own as a bound, in case this
 * thread cannot keep up.
 */
export class WalCheckpointer {
  private readonly worker: Worker
  private readonly exited: Promise<void>
  /** resolves once the thread has its connection open and its timer running (or has exited) */
  readonly ready: Promise<void>
  private isReady = false
  private latest: CheckpointStats = { checkpoints: 0, busyMs: 0, walFrames: 0, copiedFrames: 0 }

  constructor(location: string, opts: WalCheckpointerOptions) {
    this.worker = new Worker(new URL('./wal-checkpoint-worker.ts', import.meta.url), { workerData: { location, ...opts } })
    this.worker.unref()
    let onReady = () => {}
    this.ready = new Promise((resolve) => (onReady = resolve))
    this.worker.on('message', (msg: FromThread) => {
      if (msg.type === 'ready') {
        this.isReady = true
        onReady()
      } else if (msg.type === 'stats') {
        this.latest = msg.stats
      } else {
        log.warn({ location, err: msg.message }, 'checkpoint failed')
      }
    })
    this.worker.on('error', (err) => log.error({ location, err }, 'checkpoint thread failed'))
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', () => {
        onReady()
        resolve()
      }),
    )
  }

  /** A checkpointer for the database at `location`, or null for an in-memory one (no file, no log to copy). */
  static forFile(location: string, opts: WalCheckpointerOptions): WalCheckpointer | null {
    return location === ':memory:' ? null : new WalCheckpointer(location, opts)
  }

  get stats(): CheckpointStats {
    return this.latest
  }

  /**
   * Stops the thread after the checkpoint it may be running; a thread still
   * starting (no connection yet) is simply terminated, so closing right after
   * opening does not wait for its start.
   */
  async close(): Promise<void> {
    if (!this.isReady) {
      await this.worker.terminate()
      return
    }
    // held open until it is gone, so a caller awaiting this is not left behind by an exiting process
    this.worker.ref()
    this.worker.postMessage({ type: 'close' })
    await this.exited
  }
}
