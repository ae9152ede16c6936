import type { Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { RequestListener } from 'node:http'
import { createServer } from 'node:http'

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
