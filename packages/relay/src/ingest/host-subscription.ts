import { WebSocket, type RawData } from 'ws'
import { CborError, decodeFrameBytes } from '@atsuite/common/dag-cbor'
import { ingestLogger as log } from '../logger.ts'
import type { DropReason, HostCounters } from './counters.ts'
import { wsBase } from './hostname.ts'
import { eventDid, type EventProcessor, type Prepared, type UpstreamEvent } from './processor.ts'
import { TokenBucket } from './token-bucket.ts'
import type { IdentityCache } from '../identity/identity-cache.ts'

/** `throttled`: connected, and its rate limit held events back within the last second */
export type SubscriptionStatus = 'active' | 'throttled' | 'offline' | 'idle'

type Item =
  | { kind: 'event'; evt: UpstreamEvent; seq: number; prepared: Prepared | undefined }
  | { kind: 'info'; body: Record<string, unknown> }
  | { kind: 'drop'; reason: DropReason; seq: number | null }
  | { kind: 'error' }

const QUEUE_HIGH = 2000
const QUEUE_LOW = 500
const BACKOFF_BASE_MS = 500
const HEARTBEAT_MS = 30_000
const DEAD_AFTER_MS = 90_000

const THROTTLED_FOR_MS = 1000

export type SubscriptionDeps = {
  hostname: string
  counters: HostCounters
  processor: EventProcessor
  identity: IdentityCache
  allowInsecureHosts: boolean
  maxFrameBytes: number
  backoffMaxMs: number
  rateLimit: number
  /** last upstream seq fully processed (0: none, connect live) */
  cursor: number
  /** called whenever the cursor moves (tests and dev tooling wait on it) */
  onAdvance?: (hostname: string, seq: number) => void
  /** the relay's own error count (a failure of ours is not the host's bad frame) */
  internal: { errors: number }
}

/**
 * One upstream host's subscribeRepos connection. Connects with
 * `?cursor=<last processed seq>` (live when there is none), decodes frames
 * as they arrive, and processes them strictly in order, one at a time; the
 * cursor advances only past processed events. Reconnects forever with
 * capped exponential backoff and jitter. A per-host token bucket paces
 * processing; while it (or a slow identity lookup) holds the queue back the
 * socket is paused, so a fast host is slowed down, never dropped from.
 */
export class HostSubscription {
  readonly hostname: string
  cursor: number
  private readonly d: SubscriptionDeps
  private readonly bucket: TokenBucket
  private ws: WebSocket | null = null
  private queue: (Item | undefined)[] = []
  private head = 0
  private draining = false
  private paused = false
  private stopped = true
  private attempts = 0
  private reconnectTimer: NodeJS.Timeout | null = null
  private heartbeat: NodeJS.Timeout | null = null
  private lastAlive = 0
  private lastReceivedSeq = 0
  private throttledAt = 0
  private openWaiters: (() => void)[] = []
  private inflight: Promise<void> | null = null
  /** connections opened (tests, status) */
  connects = 0

  private readonly source: { hostname: string; counters: HostCounters }

  constructor(deps: SubscriptionDeps) {
    this.d = deps
    this.source = { hostname: deps.hostname, counters: deps.counters }
    this.hostname = deps.hostname
    this.cursor = deps.cursor
    this.bucket = new TokenBucket(deps.rateLimit)
  }

  get status(): SubscriptionStatus {
    if (this.stopped) return 'idle'
    if (this.ws?.readyState !== WebSocket.OPEN) return 'offline'
    return Date.now() - this.throttledAt < THROTTLED_FOR_MS ? 'throttled' : 'active'
  }

  get queued(): number {
    return this.queue.length - this.head
  }

  setRateLimit(perSecond: number): void {
    this.bucket.setRate(perSecond)
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.connect()
  }

  /** Resolves when connected (true) or after `timeoutMs` (false). */
  async waitOpen(timeoutMs: number): Promise<boolean> {
    if (this.status === 'active') return true
    return new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs)
      this.openWaiters.push(() => {
        clearTimeout(t)
        resolve(true)
      })
    })
  }

  /** Closes the connection and stops reconnecting; waits for the event being processed. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.reconnectTimer = null
    this.heartbeat = null
    const ws = this.ws
    this.ws = null
    if (ws) {
      ws.removeAllListeners()
      ws.on('error', () => {})
      ws.terminate()
    }
    this.queue = []
    this.head = 0
    if (this.inflight) {
      // the event being handled gets 2 s to finish; the timer goes once it has (it would keep the process up)
      let timer: NodeJS.Timeout | undefined
      try {
        await Promise.race([this.inflight, new Promise((r) => (timer = setTimeout(r, 2000)))])
      } finally {
        clearTimeout(timer)
      }
    }
  }

  private url(): string {
    const base = `${wsBase(this.hostname, this.d.allowInsecureHosts)}/xrpc/com.atproto.sync.subscribeRepos`
    return this.cursor > 0 ? `${base}?cursor=${this.cursor}` : base
  }

  private connect(): void {
    if (this.stopped) return
    // anything still queued came from the previous connection and is re-sent from the cursor
    this.queue = []
    this.head = 0
    this.paused = false
    this.lastReceivedSeq = this.cursor
    const ws = new WebSocket(this.url(), {
      // frames past maxFrameBytes are read and dropped (and counted); only absurd ones cost the connection
      maxPayload: Math.max(this.d.maxFrameBytes * 4, 32 * 1024 * 1024),
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      followRedirects: false,
    })
    this.ws = ws
    ws.on('open', () => {
      this.attempts = 0
      this.connects++
      this.lastAlive = Date.now()
      log.info({ host: this.hostname, cursor: this.cursor }, 'connected to host')
      const waiters = this.openWaiters
      this.openWaiters = []
      for (const w of waiters) w()
      this.heartbeat = setInterval(() => this.beat(ws), HEARTBEAT_MS)
      this.heartbeat.unref()
    })
    ws.on('message', (data: RawData) => this.receive(data as Buffer))
    ws.on('pong', () => (this.lastAlive = Date.now()))
    ws.on('error', (err) => {
      log.debug({ host: this.hostname, err: err.message }, 'host connection error')
    })
    ws.on('close', (code: number) => {
      if (code === 1009) {
        // a frame beyond even the connection limit: count it, and skip it on reconnect
        this.d.counters.dropped.too_big++
        this.cursor = Math.max(this.cursor, this.lastReceivedSeq + 1)
      }
      this.onClosed(ws)
    })
  }

  private beat(ws: WebSocket): void {
    if (ws !== this.ws) return
    if (Date.now() - this.lastAlive > DEAD_AFTER_MS) {
      log.warn({ host: this.hostname }, 'host connection silent, reconnecting')
      ws.terminate()
      return
    }
    try {
      ws.ping()
    } catch {
      // closing anyway
    }
  }

  private onClosed(ws: WebSocket): void {
    if (ws !== this.ws) return
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.heartbeat = null
    this.ws = null
    if (this.stopped) return
    const cap = Math.min(this.d.backoffMaxMs, BACKOFF_BASE_MS * 2 ** Math.min(this.attempts, 20))
    const delay = Math.round(cap / 2 + (Math.random() * cap) / 2)
    this.attempts++
    log.info({ host: this.hostname, attempt: this.attempts, delayMs: delay }, 'host disconnected, will reconnect')
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      // wait for the last event of the old connection before reading new ones
      if (this.inflight) void this.inflight.finally(() => this.connect())
      else this.connect()
    }, delay)
  }

  private receive(data: Buffer): void {
    this.lastAlive = Date.now()
    const item = this.decode(data, performance.now())
    if ((item.kind === 'event' || item.kind === 'drop') && item.seq !== null) this.lastReceivedSeq = Math.max(this.lastReceivedSeq, item.seq)
    this.queue.push(item)
    if (this.queued > QUEUE_HIGH && !this.paused) {
      this.paused = true
      this.ws?.pause()
    }
    if (!this.draining) void this.drain()
  }

  private decode(data: Buffer, receivedAt: number): Item {
    const tooBig = data.length > this.d.maxFrameBytes
    let frame
    try {
      frame = decodeFrameBytes(data)
    } catch (err) {
      if (!(err instanceof CborError)) log.warn({ host: this.hostname, err }, 'frame decode failed')
      return { kind: 'drop', reason: tooBig ? 'too_big' : 'bad_frame', seq: null }
    }
    if (frame.op === -1) {
      this.upstreamError(frame.error, frame.message)
      return { kind: 'error' }
    }
    const seq = frame.body.seq
    const validSeq = typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0 ? seq : null
    if (tooBig) return { kind: 'drop', reason: 'too_big', seq: validSeq }
    if (frame.type === '#info') return { kind: 'info', body: frame.body }
    if (validSeq === null || frame.seqStart < 0) return { kind: 'drop', reason: 'bad_frame', seq: null }
    const did = eventDid(frame.type, frame.body)
    // start resolving unknown DIDs now, so a queue of new accounts resolves in parallel
    if (did && !this.d.identity.peek(did) && !this.d.identity.knownUnresolvable(did)) void this.d.identity.resolve(did)
    const evt: UpstreamEvent = { type: frame.type, body: frame.body, bytes: data, bodyStart: frame.bodyStart, seqStart: frame.seqStart, seqEnd: frame.seqEnd, receivedAt }
    // an event already processed (replayed after a reconnect) is not worth verifying
    const prepared = validSeq > this.cursor ? this.d.processor.prepare(this.source, evt) : undefined
    return { kind: 'event', evt, seq: validSeq, prepared }
  }

  private upstreamError(error: string, message: string | undefined): void {
    if (error === 'FutureCursor') {
      // the host lost events we had (restored from backup?): take it from live
      log.warn({ host: this.hostname, cursor: this.cursor }, 'host says our cursor is in the future; resetting to live')
      this.cursor = 0
      this.lastReceivedSeq = 0
    } else {
      log.warn({ host: this.hostname, error, message }, 'host sent an error frame')
    }
  }

  /** Processes queued items in order; the only place the cursor moves. */
  private async drain(): Promise<void> {
    this.draining = true
    try {
      while (!this.stopped && this.head < this.queue.length) {
        if (!this.bucket.take()) {
          this.throttledAt = Date.now()
          if (!this.paused) {
            this.paused = true
            this.ws?.pause()
          }
          await new Promise((r) => setTimeout(r, this.bucket.waitMs()))
          continue
        }
        const item = this.queue[this.head]!
        // the slot lets go of the event at once: a taken item kept in the array lived on (decoded
        // body, frame, verification) until ~1,000 later ones, long enough for every event to be
        // copied by two scavenges and promoted, which made the main thread's minor GCs long
        this.queue[this.head++] = undefined
        if (this.head === this.queue.length) {
          this.queue.length = 0
          this.head = 0
        } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head)
          this.head = 0
        }
        const r = this.handle(item)
        if (r) {
          this.inflight = r
          await r
          this.inflight = null
        }
        if (this.paused && this.queued < QUEUE_LOW) {
          this.paused = false
          this.ws?.resume()
        }
      }
      if (this.paused && !this.stopped) {
        this.paused = false
        this.ws?.resume()
      }
    } finally {
      this.draining = false
    }
  }

  private handle(item: Item): void | Promise<void> {
    if (item.kind === 'error') return
    if (item.kind === 'info') {
      log.info({ host: this.hostname, name: item.body.name, message: item.body.message }, 'upstream info')
      return
    }
    if (item.kind === 'drop') {
      this.d.counters.dropped[item.reason]++
      if (item.seq !== null) this.advance(item.seq)
      return
    }
    if (item.seq <= this.cursor) return // already processed (replayed after a reconnect)
    let r: void | Promise<void>
    try {
      r = this.d.processor.process(this.source, item.evt, item.prepared)
    } catch (err) {
      this.failed(item, err)
      return
    }
    if (!r) {
      this.advance(item.seq)
      return
    }
    return r.then(
      () => {
        if (!this.stopped) this.advance(item.seq)
      },
      (err: unknown) => {
        if (!this.stopped) this.failed(item, err)
      },
    )
  }

  private advance(seq: number): void {
    if (seq <= this.cursor) return
    this.cursor = seq
    this.d.onAdvance?.(this.hostname, seq)
  }

  private failed(item: { evt: UpstreamEvent; seq: number }, err: unknown): void {
    log.error({ host: this.hostname, type: item.evt.type, seq: item.seq, err }, 'processing an upstream event failed (relay error)')
    this.d.internal.errors++
    try {
      this.d.processor.internalFailure(eventDid(item.evt.type, item.evt.body))
    } catch (e) {
      log.error({ host: this.hostname, err: e }, 'could not schedule a resync after a relay error')
    }
    this.advance(item.seq)
  }
}
