/**
 * A fake PDS host for relay tests and the relay benchmark: a loopback HTTP
 * server answering the few sync/server queries a relay asks a host
 * (describeServer, getRepo, getLatestCommit, getRepoStatus, listRepos) and
 * serving `com.atproto.sync.subscribeRepos` from frames the caller builds by
 * hand. Frames sent with `emit()` get the next seq and are replayed to a
 * reconnecting subscriber from its cursor; `sendRaw()` bytes (garbage, oversized
 * frames) go to the live sockets only, so a relay that drops the connection
 * over them is not fed them again forever.
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Cid } from '@atproto/lex-data'
import { WebSocketServer, type WebSocket } from 'ws'
import { encodeCar, encodeFrame } from '@atsuite/common'

/** A CARv1 in memory with one root; blocks are written in the order given, duplicates once. */
export const carBytes = (root: Cid, blocks: Iterable<readonly [Cid, Uint8Array]>): Uint8Array => encodeCar(root, blocks)

/** What the fake host knows about one repo it serves over HTTP. */
export type FakeRepoSource = {
  did: string
  head(): { cid: string; rev: string }
  /** the whole repo as a CAR (com.atproto.sync.getRepo) */
  car(): Promise<Uint8Array> | Uint8Array
  /** the collections it has records in (com.atproto.repo.describeRepo); absent: describeRepo answers 501 */
  collections?(): Promise<string[]>
  active: boolean
  status?: string
}

type Emitted = { seq: number; frame: Uint8Array }

export type FakePdsOptions = {
  /** bind this port (a restart on the same port); default: OS-chosen */
  port?: number
  /** replayable frames kept for reconnecting subscribers (default: all) */
  historyLimit?: number
}

export class FakePds {
  readonly repos = new Map<string, FakeRepoSource>()
  /** the cursor (or null for none) of every subscribeRepos connection, in order */
  readonly subscriptions: (number | null)[] = []
  private readonly server: http.Server
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false })
  private readonly sockets = new Set<Socket>()
  private readonly history: Emitted[] = []
  private readonly historyLimit: number
  private seqNo = 0
  private readonly subscriberListeners = new Set<() => void>()

  private constructor(server: http.Server, historyLimit: number) {
    this.server = server
    this.historyLimit = historyLimit
  }

  static async start(opts: FakePdsOptions = {}): Promise<FakePds> {
    const server = http.createServer()
    const pds = new FakePds(server, opts.historyLimit ?? Number.POSITIVE_INFINITY)
    server.on('request', (req, res) => void pds.handle(req, res))
    server.on('upgrade', (req, socket, head) => pds.upgrade(req, socket as Socket, head))
    server.on('connection', (s) => {
      pds.sockets.add(s)
      s.once('close', () => pds.sockets.delete(s))
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(opts.port ?? 0, '127.0.0.1', () => resolve())
    })
    return pds
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port
  }

  /** What a relay is told in requestCrawl, and what DID documents name (via `url`). */
  get hostname(): string {
    return `localhost:${this.port}`
  }

  get url(): string {
    return `http://localhost:${this.port}`
  }

  get seq(): number {
    return this.seqNo
  }

  get subscribers(): WebSocket[] {
    return [...this.wss.clients]
  }

  /** Largest send buffer among live subscribers (for benchmark back-pressure). */
  maxBufferedAmount(): number {
    let max = 0
    for (const ws of this.wss.clients) max = Math.max(max, ws.bufferedAmount)
    return max
  }

  /**
   * Sequences a message frame and sends it to every live subscriber; it is
   * kept for replay unless `replay` is false (a frame a relay may hang up on).
   */
  emit(type: string, body: Record<string, unknown>, opts: { replay?: boolean } = {}): number {
    const seq = ++this.seqNo
    const frame = encodeFrame(type, { ...body, seq })
    if (opts.replay !== false) {
      this.history.push({ seq, frame })
      // trimmed in chunks (amortised O(1)); up to twice the limit may be kept
      if (this.history.length >= 2 * this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit)
    }
    for (const ws of this.wss.clients) if (ws.readyState === ws.OPEN) ws.send(frame, { binary: true })
    return seq
  }

  /**
   * Sends a frame encoded ahead of time (benchmark) whose body carries `seq`;
   * seqs must increase. Kept for replay like `emit()`.
   */
  emitEncoded(seq: number, frame: Uint8Array): void {
    if (seq <= this.seqNo) throw new Error(`seq ${seq} is not after ${this.seqNo}`)
    this.seqNo = seq
    this.history.push({ seq, frame })
    if (this.history.length >= 2 * this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit)
    for (const ws of this.wss.clients) if (ws.readyState === ws.OPEN) ws.send(frame, { binary: true })
  }

  /** Sends bytes as one binary message to the live subscribers only (never replayed). */
  sendRaw(bytes: Uint8Array): void {
    for (const ws of this.wss.clients) if (ws.readyState === ws.OPEN) ws.send(bytes, { binary: true })
  }

  /** Resolves once at least `n` subscribers are connected. */
  waitForSubscribers(n = 1, timeoutMs = 15_000): Promise<void> {
    return this.waitUntilSubscribers((count) => count >= n, `${n} subscribers`, timeoutMs)
  }

  /** Resolves once no subscriber is connected (a relay hung up). */
  waitForNoSubscribers(timeoutMs = 15_000): Promise<void> {
    return this.waitUntilSubscribers((count) => count === 0, 'no subscribers', timeoutMs)
  }

  /** Resolves once `cond` holds for the number of connected subscribers, checked as they come and go. */
  private waitUntilSubscribers(cond: (count: number) => boolean, label: string, timeoutMs: number): Promise<void> {
    if (cond(this.wss.clients.size)) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!cond(this.wss.clients.size)) return
        done()
        resolve()
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`fake PDS ${this.hostname}: ${this.wss.clients.size} subscribers after ${timeoutMs} ms, waiting for ${label}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.subscriberListeners.delete(check)
      }
      this.subscriberListeners.add(check)
    })
  }

  private subscribersChanged(): void {
    for (const l of [...this.subscriberListeners]) l()
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate()
    this.wss.close()
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
    await closed
  }

  private upgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== '/xrpc/com.atproto.sync.subscribeRepos') {
      socket.destroy()
      return
    }
    const raw = url.searchParams.get('cursor')
    const cursor = raw === null || raw === '' ? null : Number(raw)
    this.subscriptions.push(cursor)
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => ws.terminate())
      // ws is already among wss.clients here: replay and joining live happen in one
      // synchronous step, so nothing emitted in between is lost or doubled
      if (cursor !== null) {
        for (const e of this.history) if (e.seq > cursor) ws.send(e.frame, { binary: true })
      }
      // ws has removed it from wss.clients by the time this listener runs
      ws.on('close', () => this.subscribersChanged())
      this.subscribersChanged()
    })
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
      res.end(JSON.stringify(body))
    }
    const did = url.searchParams.get('did') ?? ''
    const repo = this.repos.get(did)
    try {
      switch (url.pathname) {
        case '/xrpc/_health':
          return json(200, { version: 'fake' })
        case '/xrpc/com.atproto.server.describeServer':
          return json(200, { did: `did:web:${encodeURIComponent(this.hostname)}`, availableUserDomains: ['.test'], inviteCodeRequired: false })
        case '/xrpc/com.atproto.sync.listRepos':
          return json(200, {
            repos: [...this.repos.values()].map((r) => ({ did: r.did, head: r.head().cid, rev: r.head().rev, active: r.active, ...(r.status ? { status: r.status } : {}) })),
          })
        case '/xrpc/com.atproto.repo.describeRepo': {
          const r = this.repos.get(url.searchParams.get('repo') ?? '')
          if (!r) return json(400, { error: 'RepoNotFound', message: 'no such repo' })
          if (!r.collections) return json(501, { error: 'MethodNotImplemented', message: 'describeRepo' })
          return json(200, { did: r.did, handle: 'fake.test', didDoc: {}, collections: await r.collections(), handleIsCorrect: true })
        }
        case '/xrpc/com.atproto.sync.getLatestCommit':
          if (!repo) return json(400, { error: 'RepoNotFound', message: `no repo ${did}` })
          return json(200, repo.head())
        case '/xrpc/com.atproto.sync.getRepoStatus':
          if (!repo) return json(400, { error: 'RepoNotFound', message: `no repo ${did}` })
          return json(200, { did, active: repo.active, ...(repo.status ? { status: repo.status } : {}), rev: repo.head().rev })
        case '/xrpc/com.atproto.sync.getRepo': {
          if (!repo) return json(400, { error: 'RepoNotFound', message: `no repo ${did}` })
          const car = await repo.car()
          res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' })
          res.end(Buffer.from(car))
          return
        }
        default:
          return json(501, { error: 'MethodNotImplemented', message: url.pathname })
      }
    } catch (err) {
      json(500, { error: 'InternalServerError', message: (err as Error).message })
    }
  }
}
