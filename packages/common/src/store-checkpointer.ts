import { Worker } from 'node:worker_threads'
import { subsystemLogger } from './logger.ts'

const log = subsystemLogger('db:checkpoint')

export type StoreCheckpointerOptions = {
  /** how often the written stores are checkpointed, ms */
  intervalMs: number
  /** the synchronous setting of the stores' writers (a checkpoint fsyncs unless `off`) */
  synchronous: 'normal' | 'off'
  /** connections the thread keeps open between checkpoints (least recently used closed first) */
  maxOpen?: number
}

export type StoreCheckpointStats = {
  /** checkpoints run */
  checkpoints: number
  /** time spent in them, ms */
  busyMs: number
  /** checkpoints that failed (a store removed meanwhile, an I/O error) */
  failures: number
  /** connections the thread holds open */
  open: number
}

type FromThread =
  | { type: 'stats'; stats: StoreCheckpointStats }
  | { type: 'done'; id: number }
  | { type: 'error'; location: string; message: string }

/**
 * WalCheckpointer's counterpart for many small WAL files written now and then
 * (a PDS's per-account stores): one thread checkpoints every store written
 * since its last round, each through a connection of its own (opened on
 * demand, a bounded number kept), so a commit never pays for copying its
 * store's log into the file and fsyncing both (the writer's own automatic
 * checkpoint, every ~1,000 pages). Writers report what they wrote with
 * `touch`; before a store's files are removed, `forget` closes the thread's
 * connection to it. Checkpoints are PASSIVE: they never wait for or block a
 * writer. Writers keep a `wal_autocheckpoint` of their own as a bound.
 */
export class StoreCheckpointer {
  private readonly worker: Worker
  private readonly exited: Promise<void>
  private readonly dirty = new Set<string>()
  private readonly timer: NodeJS.Timeout
  private readonly waiting = new Map<number, () => void>()
  private nextId = 1
  private closed = false
  private latest: StoreCheckpointStats = { checkpoints: 0, busyMs: 0, failures: 0, open: 0 }

  constructor(opts: StoreCheckpointerOptions) {
    this.worker = new Worker(new URL('./store-checkpoint-worker.ts', import.meta.url), {
      workerData: { synchronous: opts.synchronous, maxOpen: opts.maxOpen ?? 64 },
    })
    this.worker.unref()
    this.worker.on('message', (msg: FromThread) => {
      if (msg.type === 'stats') this.latest = msg.stats
      else if (msg.type === 'done') {
        this.waiting.get(msg.id)?.()
        this.waiting.delete(msg.id)
      } else if (msg.type === 'error') log.debug({ location: msg.location, err: msg.message }, 'store checkpoint failed')
    })
    this.worker.on('error', (err) => log.error({ err }, 'store checkpoint thread failed'))
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', () => {
        for (const done of this.waiting.values()) done()
        this.waiting.clear()
        resolve()
      }),
    )
    this.timer = setInterval(() => this.round(), opts.intervalMs)
    this.timer.unref()
  }

  get stats(): StoreCheckpointStats {
    return this.latest
  }

  /** The store at `location` committed a write: it is checkpointed in the next round. */
  touch(location: string): void {
    if (!this.closed) this.dirty.add(location)
  }

  /** Closes the thread's connection to the store (resolves once it is closed): call before removing its files. */
  forget(location: string): Promise<void> {
    this.dirty.delete(location)
    return this.ask({ type: 'forget', location })
  }

  /**
   * Runs a round now for what was touched, and resolves once the thread has
   * done it and every round before it (the stats then count them all).
   */
  flush(): Promise<void> {
    this.round()
    return this.ask({ type: 'flush' })
  }

  /** Posts a request the thread answers with `done` once it has handled it, after everything posted before it. */
  private ask(msg: { type: 'forget'; location: string } | { type: 'flush' }): Promise<void> {
    if (this.closed) return Promise.resolve()
    const id = this.nextId++
    return new Promise((resolve) => {
      this.waiting.set(id, resolve)
      this.worker.postMessage({ ...msg, id })
    })
  }

  private round(): void {
    if (this.dirty.size === 0 || this.closed) return
    const locations = [...this.dirty]
    this.dirty.clear()
    this.worker.postMessage({ type: 'checkpoint', locations })
  }

  /** Stops the thread after the round it may be running; what was touched since is left to the stores' own checkpoints. */
  async close(): Promise<void> {
    if (this.closed) return this.exited
    this.closed = true
    clearInterval(this.timer)
    this.dirty.clear()
    this.worker.ref()
    this.worker.postMessage({ type: 'close' })
    await this.exited
  }
}
