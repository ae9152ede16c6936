import { WebSocket } from 'ws'
import { subsystemLogger } from '@atsuite/common'
import { decodeFrame, type DecodedFrame } from './frames.ts'

const log = subsystemLogger('appview:subscription')

const BACKOFF_MIN_MS = 250
const BACKOFF_MAX_MS = 30_000

/** A decoded frame, or one that did not decode (counted `bad_frame` by the indexer's side). */
export type StreamItem = DecodedFrame | { kind: 'bad'; message: string }

/**
 * The WebSocket side of a subscribeRepos subscription: connects from
 * `cursor()` (asked again at every connect; null = live), reconnects forever
 * with backoff, decodes each frame and hands it on. `pause()` stops reading
 * (TCP backpressure reaches the upstream). Runs on the indexer's thread or
 * on a thread of its own (stream-worker.ts).
 */
export class StreamClient {
  private readonly url: string
  private readonly cursor: () => number | null
  private readonly onItem: (item: StreamItem) => void
  private readonly onChange: () => void
  private ws: WebSocket | null = null
  private stopped = false
  private paused = false
  private backoff = BACKOFF_MIN_MS
  private reconnectTimer: NodeJS.Timeout | null = null
  private connectedOnce = false

  constructor(opts: { url: string; cursor: () => number | null; onItem: (item: StreamItem) => void; onChange?: () => void }) {
    this.url = opts.url.replace(/\/+$/, '')
    this.cursor = opts.cursor
    this.onItem = opts.onItem
    this.onChange = opts.onChange ?? (() => undefined)
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN
  }

  start(): void {
    this.stopped = false
    this.connect()
  }

  pause(): void {
    if (this.paused) return
    this.paused = true
    this.ws?.pause()
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    this.ws?.resume()
  }

  private connect(): void {
    if (this.stopped) return
    const cursor = this.cursor()
    const query = cursor === null ? '' : `?cursor=${cursor}`
    const ws = new WebSocket(`${this.url}/xrpc/com.atproto.sync.subscribeRepos${query}`, { maxPayload: 8 * 1024 * 1024 })
    this.ws = ws
    if (this.paused) ws.pause()
    ws.on('open', () => {
      this.backoff = BACKOFF_MIN_MS
      this.connectedOnce = true
      log.info({ url: this.url, cursor }, 'subscribed')
      this.onChange()
    })
    ws.on('message', (data: Buffer) => {
      let item: StreamItem
      try {
        item = decodeFrame(data)
      } catch (err) {
        item = { kind: 'bad', message: (err as Error).message }
      }
      this.onItem(item)
    })
    ws.on('error', (err) => log.warn({ err: err.message, url: this.url }, 'stream error'))
    ws.on('close', () => {
      if (this.ws === ws) this.ws = null
      this.onChange()
      this.scheduleReconnect()
    })
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

/** The seq an item carries, if any (what a reconnect resumes after). */
export const itemSeq = (item: StreamItem): number | null =>
  item.kind === 'event' ? item.event.seq : item.kind === 'skip' ? item.seq : null
