/**
 * A small real feed generator for the whole-network tests: an HTTP server on
 * loopback whose did:web (`did:web:localhost%3A<port>`) document, served at
 * /.well-known/did.json, names it as the `#bsky_fg` service. It answers
 * app.bsky.feed.getFeedSkeleton and describeFeedGenerator, verifies the
 * service JWT it receives (signature by the issuer's key from PLC, aud = its
 * DID, lxm = getFeedSkeleton) and records what it saw.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { IdResolver } from '@atproto/identity'
import { verifyJwt } from '@atproto/xrpc-server'

export type SkeletonPost = { post: string; reason?: { $type: string; repost?: string }; feedContext?: string }
export type SkeletonPage = { feed: unknown[]; cursor?: string }
export type SkeletonFn = (params: { feed: string; limit: number; cursor?: string }) => SkeletonPage

/** How the generator behaves: serve, or fail in one of the ways real ones do. */
export type FeedGenMode = 'ok' | 'hang' | 'error' | 'huge' | 'garbage'

/** What one getFeedSkeleton call carried: the verified token's claims (null: anonymous), and the params. */
export type Received = { claims: { iss: string; aud: string; lxm: string | undefined } | null; params: Record<string, string> }

export class TestFeedGen {
  readonly did: string
  readonly url: string
  readonly received: Received[] = []
  mode: FeedGenMode = 'ok'
  /** feed URIs this generator serves (others get UnknownFeed) */
  readonly feeds = new Map<string, SkeletonFn>()
  private readonly server: http.Server

  private constructor(server: http.Server, port: number) {
    this.server = server
    this.did = `did:web:localhost%3A${port}`
    this.url = `http://localhost:${port}`
  }

  static async start(plcUrl: string): Promise<TestFeedGen> {
    const resolver = new IdResolver({ plcUrl, fetch: globalThis.fetch })
    let gen: TestFeedGen | undefined
    const server = http.createServer((req, res) => {
      if (!gen) return void res.writeHead(503).end()
      gen.handle(req, res, resolver).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, { error: 'InternalServerError', message: String(err) })
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    gen = new TestFeedGen(server, (server.address() as AddressInfo).port)
    return gen
  }

  /** The DID document a did:web resolver fetches. */
  didDocument() {
    return {
      '@context': ['https://www.w3.org/ns/did/v1'],
      id: this.did,
      service: [{ id: '#bsky_fg', type: 'BskyFeedGenerator', serviceEndpoint: this.url }],
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, resolver: IdResolver): Promise<void> {
    const url = new URL(req.url ?? '/', this.url)
    if (url.pathname === '/.well-known/did.json') return send(res, 200, this.didDocument())
    if (url.pathname === '/xrpc/app.bsky.feed.describeFeedGenerator') {
      return send(res, 200, { did: this.did, feeds: [...this.feeds.keys()].map((uri) => ({ uri })) })
    }
    if (url.pathname !== '/xrpc/app.bsky.feed.getFeedSkeleton') return send(res, 404, { error: 'NotFound' })
    const params = Object.fromEntries(url.searchParams)
    let claims: Received['claims'] = null
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1]
    if (auth) {
      try {
        const p = await verifyJwt(auth, this.did, 'app.bsky.feed.getFeedSkeleton', (iss, force) => resolver.did.resolveAtprotoKey(iss, force))
        claims = { iss: p.iss, aud: p.aud, lxm: p.lxm }
      } catch (err) {
        this.received.push({ claims: null, params })
        return send(res, 401, { error: 'AuthenticationRequired', message: String(err) })
      }
    }
    this.received.push({ claims, params })
    if (this.mode === 'hang') return // never answers; close() drops the connection
    if (this.mode === 'error') return send(res, 500, { error: 'InternalServerError', message: 'boom' })
    if (this.mode === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"feed": [ not json')
      return
    }
    if (this.mode === 'huge') {
      const item = { post: 'at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3kabc', feedContext: 'x'.repeat(1000) }
      return send(res, 200, { feed: Array.from({ length: 2000 }, () => item) })
    }
    const fn = this.feeds.get(params.feed ?? '')
    if (!fn) return send(res, 400, { error: 'UnknownFeed', message: 'not one of mine' })
    return send(res, 200, fn({ feed: params.feed!, limit: Number(params.limit ?? 50), ...(params.cursor ? { cursor: params.cursor } : {}) }))
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

const send = (res: http.ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}
