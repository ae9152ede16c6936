import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { Outbox, type EventLog, type WebSocketEndpoint } from '@atsuite/common'
import { outboxLogger as log } from '../logger.ts'
import { isDid, isNsid } from '../util.ts'
import { EventCache, type JetstreamEvent } from './events.ts'

const MAX_COLLECTIONS = 100
const MAX_DIDS = 10_000
const NSID_PREFIX = /^[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z0-9-]+)*\.\*$/
const nsidOrPrefix = (c: string): boolean => (c.length <= 317 && NSID_PREFIX.test(c)) || isNsid(c)

/** What a subscriber asked for: Jetstream's query parameters and `options_update` payload. */
export type JetstreamOptions = {
  wantedCollections: string[]
  wantedDids: string[]
  maxMessageSizeBytes: number
}

class BadOptions extends Error {}

const checkOptions = (collections: string[], dids: string[], maxSize: number): JetstreamOptions => {
  if (collections.length > MAX_COLLECTIONS) throw new BadOptions(`at most ${MAX_COLLECTIONS} wantedCollections`)
  if (dids.length > MAX_DIDS) throw new BadOptions(`at most ${MAX_DIDS} wantedDids`)
  for (const c of collections) if (!nsidOrPrefix(c)) throw new BadOptions(`wantedCollections: ${JSON.stringify(c)} is not an NSID or an NSID prefix ending in .*`)
  for (const d of dids) if (!isDid(d)) throw new BadOptions(`wantedDids: ${JSON.stringify(d)} is not a DID`)
  if (!Number.isSafeInteger(maxSize) || maxSize < 0) throw new BadOptions('maxMessageSizeBytes must be a non-negative integer')
  return { wantedCollections: collections, wantedDids: dids, maxMessageSizeBytes: maxSize }
}

/** A compiled filter: exact collections, prefixes (`app.bsky.feed.*` → `app.bsky.feed.`), DIDs. */
class Filter {
  private readonly exact: Set<string>
  private readonly prefixes: string[]
  private readonly dids: Set<string> | null
  private readonly maxSize: number

  constructor(o: JetstreamOptions) {
    this.exact = new Set(o.wantedCollections.filter((c) => !c.endsWith('*')))
    this.prefixes = o.wantedCollections.filter((c) => c.endsWith('*')).map((c) => c.slice(0, -1))
    this.dids = o.wantedDids.length > 0 ? new Set(o.wantedDids) : null
    this.maxSize = o.maxMessageSizeBytes
  }

  wants(e: JetstreamEvent): boolean {
    if (this.dids && !this.dids.has(e.did)) return false
    if (this.maxSize > 0 && e.bytes.length > this.maxSize) return false
    // identity and account events are not filtered by collection
    if (e.collection === undefined || (this.exact.size === 0 && this.prefixes.length === 0)) return true
    if (this.exact.has(e.collection)) return true
    for (const p of this.prefixes) if (e.collection.startsWith(p)) return true
    return false
  }
}

/**
 * A Jetstream-compatible endpoint (`/subscribe`) over the relay's verified
 * log: JSON text messages, query parameters `wantedCollections` (NSIDs or
 * prefixes like `app.bsky.feed.*`), `wantedDids`, `cursor` (microseconds:
 * replay from the first event at or after it, then live, with no gap or
 * duplicate at the switch), `maxMessageSizeBytes`, `requireHello` (send
 * nothing until the first `options_update`), and `options_update` messages
 * that change the filter mid-stream. `compress` is accepted and ignored:
 * Jetstream's compression needs its own zstd dictionary, so messages are
 * always plain JSON text. A subscriber more than `maxBufferBytes` behind is
 * closed (1008, ConsumerTooSlow).
 */
export class JetstreamServer implements WebSocketEndpoint {
  readonly path = '/subscribe'
  private readonly log: EventLog
  private readonly maxBufferBytes: number
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024, perMessageDeflate: false })
  /** each row converted once, whichever subscriber (live or replaying) asks first */
  private readonly cache = new EventCache()

  constructor(log: EventLog, opts: { maxBufferBytes: number }) {
    this.log = log
    this.maxBufferBytes = opts.maxBufferBytes
  }

  get subscriberCount(): number {
    return this.wss.clients.size
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== this.path) return false
    let options: JetstreamOptions
    let cursor: number | undefined
    try {
      const q = url.searchParams
      options = checkOptions(q.getAll('wantedCollections'), q.getAll('wantedDids'), Number(q.get('maxMessageSizeBytes') ?? 0))
      const raw = q.get('cursor')
      if (raw !== null && raw !== '') {
        cursor = Number(raw)
        if (!Number.isSafeInteger(cursor) || cursor < 0) throw new BadOptions('cursor must be a non-negative integer (unix microseconds)')
      }
    } catch (err) {
      if (!(err instanceof BadOptions)) throw err
      const body = JSON.stringify({ error: 'InvalidRequest', message: err.message })
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
      return true
    }
    const requireHello = url.searchParams.get('requireHello') === 'true'
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const sub = new JetstreamSubscriber(ws, this.log, this.cache, options, this.maxBufferBytes)
      if (requireHello) sub.awaitHello(cursor)
      else sub.start(cursor)
    })
    return true
  }

  handlePlainGet(_req: IncomingMessage, res: ServerResponse): void {
    res.statusCode = 426
    res.setHeader('content-type', 'application/json; charset=utf-8')
    res.end(JSON.stringify({ error: 'InvalidRequest', message: '/subscribe is a WebSocket endpoint (Jetstream-compatible JSON stream): connect with Upgrade: websocket' }))
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate()
    this.wss.close()
  }
}

/** One Jetstream subscriber: the common Outbox (replay, then live) sending the rows' events its filter wants. */
class JetstreamSubscriber {
  private readonly log: EventLog
  private readonly outbox: Outbox
  private filter: Filter
  private hello: (() => void) | null = null

  constructor(ws: WebSocket, log: EventLog, cache: EventCache, options: JetstreamOptions, maxBufferBytes: number) {
    this.log = log
    this.filter = new Filter(options)
    this.outbox = new Outbox(ws, log, {
      maxBufferBytes,
      errorFrames: false,
      messages: (row) => cache.get(row).filter((e) => this.filter.wants(e)).map((e) => e.bytes),
    })
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary))
  }

  awaitHello(cursor: number | undefined): void {
    this.hello = () => this.start(cursor)
  }

  /** Replays from `cursor` (µs) if given (a cursor in the future: live), then live. */
  start(cursor: number | undefined): void {
    const after = cursor === undefined || cursor > Date.now() * 1000 ? undefined : this.log.seqAtTime(cursor) - 1
    this.outbox.stream(after).catch((err: unknown) => {
      log.error({ err }, 'jetstream replay failed')
      this.outbox.fail('InternalError', 'replay failed')
    })
  }

  /** Subscriber-sourced messages: `options_update` replaces the filter. */
  private onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) return
    let msg: { type?: unknown; payload?: Record<string, unknown> }
    try {
      msg = JSON.parse(data.toString('utf8'))
    } catch {
      return this.outbox.fail('InvalidRequest', 'message is not JSON')
    }
    if (msg.type !== 'options_update' || typeof msg.payload !== 'object' || msg.payload === null) return
    const p = msg.payload
    const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])
    try {
      this.filter = new Filter(checkOptions(list(p.wantedCollections), list(p.wantedDids), Number(p.maxMessageSizeBytes ?? 0)))
    } catch (err) {
      if (err instanceof BadOptions) return this.outbox.fail('InvalidRequest', err.message)
      throw err
    }
    const hello = this.hello
    this.hello = null
    hello?.()
  }
}
