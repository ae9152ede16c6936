import type { Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'

// node:http through getBuiltinModule, not an ESM import: importing it as a
// module builds its namespace, which reads its lazy WebSocket, MessageEvent
// and CloseEvent exports and so loads Node's undici (~13 MiB of RSS in a bare
// process) in one that never uses it. (packages/pds/tests/footprint.test.ts holds the PDS to this.)
const { createServer } = process.getBuiltinModule('node:http')

/**
 * An HTTP server that can be stopped promptly: open keep-alive sockets are
 * tracked and destroyed on close, so tests and SIGTERM never hang.
 */
export class HttpServer {
  readonly server: Server
  private sockets = new Set<Socket>()

  constructor(handler: RequestListener) {
    this.server = createServer(handler)
    this.server.keepAliveTimeout = 90_000
    this.server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
  }

  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    return (this.server.address() as AddressInfo).port
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port
  }

  async close(): Promise<void> {
    if (!this.server.listening) return
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeIdleConnections()
    for (const s of this.sockets) s.destroy()
    await closed
  }
}

/** Open CORS for XRPC (browser clients), answering preflights itself. Express-compatible. */
export const cors = (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
  res.setHeader('access-control-allow-origin', '*')
  if (req.method === 'OPTIONS') {
    res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS')
    res.setHeader('access-control-allow-headers', req.headers['access-control-request-headers'] ?? '*')
    res.setHeader('access-control-max-age', '86400')
    res.statusCode = 204
    res.end()
    return
  }
  next()
}

/** A request body that is not JSON (body-parser's, and xrpc-direct.ts's own read). */
export const INVALID_JSON = Object.freeze({ status: 400, error: 'InvalidRequest', message: 'Request body is not valid JSON' })

/**
 * body-parser's failures (malformed JSON, too large) as XRPC error bodies —
 * a bad request body is a 4xx, never a 500. Null for any other error.
 */
export const bodyParserError = (err: unknown): { status: number; error: string; message: string } | null => {
  const type = (err as { type?: unknown } | null)?.type
  if (type === 'entity.too.large') return { status: 413, error: 'PayloadTooLarge', message: 'request entity too large' }
  if (type === 'entity.parse.failed') return INVALID_JSON
  return null
}
