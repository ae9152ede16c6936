import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import type { EventLog } from './event-log.ts'
import { encodeErrorFrame } from './frames.ts'
import { Outbox } from './outbox.ts'

/** A WebSocket endpoint a ServiceShell serves beside its XRPC routes. */
export interface WebSocketEndpoint {
  readonly path: string
  /** takes the upgrade when it is for `path` (false otherwise) */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean
  /** a GET of `path` without Upgrade */
  handlePlainGet(req: IncomingMessage, res: ServerResponse): void
  close(): void
}

/**
 * Serves an EventLog as an atproto subscription (e.g. subscribeRepos) on
 * `path`: `handleUpgrade` takes HTTP upgrades (returns false for other
 * paths), `handlePlainGet` answers a GET without Upgrade with a clear 426.
 * Cursor semantics are the Outbox's.
 */
export class SubscriptionServer implements WebSocketEndpoint {
  readonly path: string
  private readonly log: EventLog
  private readonly maxBufferBytes: number
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 })

  constructor(path: string, log: EventLog, opts: { maxBufferBytes: number }) {
    this.path = path
    this.log = log
    this.maxBufferBytes = opts.maxBufferBytes
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== this.path) return false
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const raw = url.searchParams.get('cursor')
      let cursor: number | undefined
      if (raw !== null && raw !== '') {
        cursor = Number(raw)
        if (!Number.isSafeInteger(cursor) || cursor < 0) {
          ws.send(encodeErrorFrame('InvalidRequest', 'cursor must be a non-negative integer'), { binary: true })
          ws.close(1008, 'InvalidRequest')
          return
        }
      }
      const outbox = new Outbox(ws, this.log, { maxBufferBytes: this.maxBufferBytes })
      void outbox.run(cursor).catch(() => ws.terminate())
    })
    return true
  }

  handlePlainGet(_req: IncomingMessage, res: ServerResponse): void {
    res.statusCode = 426
    res.setHeader('content-type', 'application/json; charset=utf-8')
    res.end(
      JSON.stringify({
        error: 'InvalidRequest',
        message: `${this.path.replace('/xrpc/', '')} is a WebSocket endpoint: connect with Upgrade: websocket`,
      }),
    )
  }

  get subscriberCount(): number {
    return this.wss.clients.size
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate()
    this.wss.close()
  }
}
