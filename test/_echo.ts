/**
 * A small service for the proxy tests: an HTTP server on loopback whose
 * did:web document (`did:web:localhost%3A<port>`) names it as `#echo`. It
 * verifies the service JWT it is sent (signature by the issuer's key from
 * PLC, aud = its DID; lxm is recorded, not checked), records every request,
 * and answers:
 * - `com.example.echo`: 200 with what it received (method, query, headers, body), and
 *   `atproto-repo-rev` / `atproto-content-labelers` headers;
 * - `com.example.fail?status=N`: that status with an XRPC error body and `retry-after`;
 * - `com.example.bytes`: 200 with binary bytes;
 * - anything else (chat.bsky.*, …): 200 `{ ok: true, nsid }`.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { IdResolver } from '@atproto/identity'
import { verifyJwt } from '@atproto/xrpc-server'

export type EchoClaims = { iss: string; aud: string; lxm: string | undefined; exp: number }
export type EchoReceived = { method: string; nsid: string; query: Record<string, string>; headers: http.IncomingHttpHeaders; body: Buffer; claims: EchoClaims | null }

export const ECHO_BYTES = Buffer.from([0, 1, 2, 3, 250, 251, 252, 253, 254, 255])

export class EchoService {
  readonly did: string
  readonly url: string
  readonly received: EchoReceived[] = []
  private readonly server: http.Server

  private constructor(server: http.Server, port: number) {
    this.server = server
    this.did = `did:web:localhost%3A${port}`
    this.url = `http://localhost:${port}`
  }

  static async start(plcUrl: string): Promise<EchoService> {
    const resolver = new IdResolver({ plcUrl, fetch: globalThis.fetch })
    let svc: EchoService | undefined
    const server = http.createServer((req, res) => {
      if (!svc) return void res.writeHead(503).end()
      svc.handle(req, res, resolver).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, { error: 'InternalServerError', message: String(err) })
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    svc = new EchoService(server, (server.address() as AddressInfo).port)
    return svc
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, resolver: IdResolver): Promise<void> {
    const url = new URL(req.url ?? '/', this.url)
    if (url.pathname === '/.well-known/did.json') {
      return send(res, 200, {
        '@context': ['https://www.w3.org/ns/did/v1'],
        id: this.did,
        service: [{ id: '#echo', type: 'EchoService', serviceEndpoint: this.url }],
      })
    }
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const nsid = url.pathname.replace(/^\/xrpc\//, '')
    let claims: EchoClaims | null = null
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1]
    if (token) {
      try {
        const p = await verifyJwt(token, this.did, null, (iss, force) => resolver.did.resolveAtprotoKey(iss, force))
        claims = { iss: p.iss, aud: p.aud, lxm: p.lxm, exp: p.exp }
      } catch (err) {
        this.received.push({ method: req.method ?? '', nsid, query: Object.fromEntries(url.searchParams), headers: req.headers, body, claims: null })
        return send(res, 401, { error: 'BadJwt', message: String(err) })
      }
    }
    this.received.push({ method: req.method ?? '', nsid, query: Object.fromEntries(url.searchParams), headers: req.headers, body, claims })
    if (nsid === 'com.example.echo') {
      res.setHeader('atproto-repo-rev', 'echo-rev')
      res.setHeader('atproto-content-labelers', 'did:example:labeler')
      return send(res, 200, {
        method: req.method,
        query: Object.fromEntries(url.searchParams),
        contentType: req.headers['content-type'] ?? null,
        acceptLanguage: req.headers['accept-language'] ?? null,
        labelers: req.headers['atproto-accept-labelers'] ?? null,
        body: body.toString('base64'),
        claims,
      })
    }
    if (nsid === 'com.example.fail') {
      res.setHeader('retry-after', '7')
      return send(res, Number(url.searchParams.get('status') ?? 500), { error: 'Nope', message: 'failed on purpose' })
    }
    if (nsid === 'com.example.bytes') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(ECHO_BYTES)
      return
    }
    return send(res, 200, { ok: true, nsid })
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

const send = (res: http.ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}
