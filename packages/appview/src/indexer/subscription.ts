import { Worker } from 'node:worker_threads'
import { subsystemLogger } from '@atsuite/common'
import type { IndexerCounters } from './counters.ts'
import { batchLimit, type Indexer } from './indexer.ts'
import { StreamClient, type StreamItem } from './stream-client.ts'

const log = subsystemLogger('appview:subscription')

type FromStreamThread = { type: 'items'; items: StreamItem[] } | { type: 'state'; connected: boolean }

/**
 * A subscribeRepos client feeding the indexer: resumes from the indexer's
 * persisted cursor, reconnects forever with backoff (StreamClient), and stops
 * reading (TCP backpressure reaches the upstream) while the indexer has more
 * than `maxPending` events it has not applied.
 *
 * With `decodeThread`, the WebSocket and the decoding of every frame run on a
 * thread of their own (stream-worker.ts), which hands decoded events over in
 * batches: the indexer's thread only applies them, and the stream is read
 * while a transaction runs. A stream thread that dies is started again from
 * the indexer's resume point.
 */
export class RepoSubscription {
  private readonly url: string
  private readonly indexer: Indexer
  private readonly counters: IndexerCounters
  private readonly maxPending: number
  /** records over this are refused (checked on the stream thread) */
  private readonly maxRecordBytes: number
  private readonly startLive: boolean
  private readonly onChange: () => void
  private readonly decodeThread: boolean
  private client: StreamClient | null = null
  private worker: Worker | null = null
  private workerConnected = false
  private restartTimer: NodeJS.Timeout | null = null
  private stopped = false
  private paused = false
  /** called when the indexer starts applying a batch (the stream thread's flow control) */
  private onApplying: () => void = () => undefined

  constructor(opts: {
    url: string
    indexer: Indexer
    counters: IndexerCounters
    maxPending: number
    maxRecordBytes: number
    startLive: boolean
    /** decode on a thread of its own (see above) */
    decodeThread?: boolean
    /** called when the connection opens or closes */
    onChange?: () => void
  }) {
    this.onChange = opts.onChange ?? (() => undefined)
    this.url = opts.url
    this.startLive = opts.startLive
    this.indexer = opts.indexer
    this.counters = opts.counters
    this.maxPending = opts.maxPending
    this.maxRecordBytes = opts.maxRecordBytes
    this.decodeThread = opts.decodeThread ?? false
    this.indexer.on('progress', () => this.maybeResume())
    this.indexer.on('applying', () => this.onApplying())
  }

  /** Where a (re)connect starts: a fresh index told to start live omits the cursor (the upstream sends from now on). */
  private cursor(): number | null {
    return this.indexer.fresh && this.startLive ? null : this.indexer.resumeSeq
  }

  start(): void {
    this.stopped = false
    if (this.decodeThread) {
      this.spawn()
      return
    }
    this.client = new StreamClient({
      url: this.url,
      cursor: () => this.cursor(),
      onItem: (item) => {
        this.deliver(item)
        this.maybePause()
      },
      onChange: this.onChange,
    })
    this.client.start()
  }

  get connected(): boolean {
    return this.decodeThread ? this.workerConnected : (this.client?.connected ?? false)
  }

  private spawn(): void {
    // items handed over but not yet taken in: a whole batch, decoded while the one before is applied
    const window = batchLimit(this.maxPending)
    const worker = new Worker(new URL('./stream-worker.ts', import.meta.url), { workerData: { url: this.url, cursor: this.cursor(), window, maxRecordBytes: this.maxRecordBytes } })
    this.worker = worker
    this.paused = false
    // Flow control with the stream thread. It hands over at most a window of items that this
    // thread has not acknowledged. A port delivers everything queued on it in one go, so an
    // acknowledgement sent while that go lasts lets the stream thread refill the queue within
    // it: acknowledging each message at once made timers, I/O and status reports wait behind
    // hundreds of thousands of events. So items are acknowledged when a batch starts to be
    // applied (the stream thread decodes the next one meanwhile) and at the end of the turn;
    // and once a batch was applied in this go, what arrives after it is held until the go
    // ends. One go then applies at most one batch, and the turn after it the next one.
    let unacked = 0
    let held: StreamItem[] = []
    let applied = false
    let turnEnding = false
    const ack = () => {
      if (unacked > 0 && this.worker === worker) worker.postMessage({ type: 'ack', n: unacked })
      unacked = 0
    }
    const endTurn = () => {
      turnEnding = false
      applied = false
      ack()
      const items = held
      held = []
      for (const item of items) this.deliver(item)
      this.maybePause()
    }
    this.onApplying = () => {
      applied = true
      ack()
    }
    worker.on('message', (msg: FromStreamThread) => {
      if (msg.type === 'items') {
        if (!turnEnding) {
          turnEnding = true
          setImmediate(endTurn)
        }
        for (const item of msg.items) {
          unacked++
          if (applied || held.length > 0) held.push(item)
          else this.deliver(item)
        }
        this.maybePause()
      } else {
        this.workerConnected = msg.connected
        this.onChange()
      }
    })
    worker.on('error', (err) => log.error({ err }, 'stream thread failed'))
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null
      this.workerConnected = false
      this.onChange()
      if (this.stopped) return
      log.error({ code }, 'stream thread exited; restarting')
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null
        if (!this.stopped) this.spawn()
      }, 1000)
    })
  }

  private deliver(item: StreamItem): void {
    switch (item.kind) {
      case 'event':
        this.indexer.push(item.event)
        break
      case 'skip':
        if (item.seq !== null) this.indexer.pushSeq(item.seq)
        break
      case 'bad':
        this.counters.skip('bad_frame')
        log.warn({ err: item.message }, 'undecodable frame')
        break
      case 'info':
        log.info({ name: item.name, message: item.message }, 'stream info')
        break
      case 'error':
        log.warn({ error: item.error, message: item.message }, 'stream error frame')
        break
    }
  }

  private maybePause(): void {
    if (this.paused || this.indexer.pendingEvents <= this.maxPending) return
    this.paused = true
    this.client?.pause()
    this.worker?.postMessage({ type: 'pause' })
  }

  private maybeResume(): void {
    if (!this.paused || this.indexer.pendingEvents >= this.maxPending / 2) return
    this.paused = false
    this.client?.resume()
    this.worker?.postMessage({ type: 'resume' })
  }

  stop(): void {
    this.stopped = true
    if (this.restartTimer) clearTimeout(this.restartTimer)
    this.restartTimer = null
    this.client?.stop()
    this.client = null
    const worker = this.worker
    this.worker = null
    if (worker) {
      worker.postMessage({ type: 'stop' })
      // it ends by itself once its socket is closed; never wait on it
      setTimeout(() => void worker.terminate(), 2000).unref()
    }
  }
}
