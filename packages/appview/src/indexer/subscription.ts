import { WebSocket } from 'ws'
import { subsystemLogger } from '@atsuite/common'
import type { IndexerCounters } from './counters.ts'
import { decodeFrame } from './frames.ts'
import type { Indexer } from './indexer.ts'

const log = subsystemLogger('appview:subscription')

const BACKOFF_MIN_MS = 250
const BACKOFF_MAX_MS = 30_000

/**
 * A subscribeRepos client feeding the indexer: resumes from the indexer's
 * persisted cursor on every (re)connect, reconnects forever with backoff,
 * and stops reading (TCP backpressure reaches the upstream) while the
 * indexer has more than `maxPending` events it has not applied.
 */
export class RepoSubscription {
  private readonly url: string
  private readonly indexer: Indexer
  private readonly counters: IndexerCounters
  private readonly maxPending: number
  private ws: WebSocket | null = null
  private stopped = false
  private backoff = BACKOFF_MIN_MS
  private reconnectTimer: NodeJS.Timeout | null = null
  private paused = false
  private connectedOnce = false

  private readonly startLive: boolean
  private readonly onChange: () => void

  constructor(opts: {
    url: string
    indexer: Indexer
    counters: IndexerCounters
    maxPending: number
    startLive: boolean
    /** called when the connection opens or closes */
    onChange?: () => void
  }) {
    this.onChange = opts.onChange ?? (() => undefined)
    this.url = opts.url.replace(/\/+$/, '')
    this.startLive = opts.startLive
    this.indexer = opts.indexer
    this.counters = opts.counters
    this.maxPending = opts.maxPending
    this.indexer.on('progress', () => this.maybeResume())
  }

  start(): void {
    this.stopped = false
    this.connect()
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN
  }

  private connect(): void {
    if (this.stopped) return
    // a fresh index told to start live omits the cursor: the upstream sends from now on
    const cursor = this.indexer.fresh && this.startLive ? null : this.indexer.resumeSeq
    const query = cursor === null ? '' : `?cursor=${cursor}`
    const ws = new WebSocket(`${this.url}/xrpc/com.atproto.sync.subscribeRepos${query}`, { maxPayload: 8 * 1024 * 1024 })
    this.ws = ws
    ws.on('open', () => {
      this.backoff = BACKOFF_MIN_MS
      this.connectedOnce = true
      log.info({ url: this.url, cursor }, 'subscribed')
      this.onChange()
    })
    ws.on('message', (data: Buffer) => this.onMessage(data))
    ws.on('error', (err) => log.warn({ err: err.message, url: this.url }, 'stream error'))
    ws.on('close', () => {
      if (this.ws === ws) this.ws = null
      this.onChange()
      this.scheduleReconnect()
    })
  }

  private onMessage(data: Buffer): void {
    let frame
    try {
      frame = decodeFrame(data)
    } catch (err) {
      this.counters.skip('bad_frame')
      log.warn({ err: (err as Error).message }, 'undecodable frame')
      return
    }
    switch (frame.kind) {
      case 'event':
        this.indexer.push(frame.event)
        break
      case 'skip':
        if (frame.seq !== null) this.indexer.pushSeq(frame.seq)
        break
      case 'info':
        log.info({ name: frame.name, message: frame.message }, 'stream info')
        break
      case 'error':
        log.warn({ error: frame.error, message: frame.message }, 'stream error frame')
        break
    }
    if (!this.paused && this.indexer.pendingEvents > this.maxPending) {
      this.paused = true
      this.ws?.pause()
    }
  }

  private maybeResume(): void {
    if (this.paused && this.indexer.pendingEvents < this.maxPending / 2) {
      this.paused = false
      this.ws?.resume()
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return
    const delay = this.connectedOnce ? this.backoff : Math.min(this.backoff, 1000)
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      this.connect()
    }, delay)
  }

  stop(): void {
    this.stopped = true
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    this.reconnectTimer = null
    this.ws?.terminate()
    this.ws = null
  }
}
