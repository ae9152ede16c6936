// The benchmark's only client: node:http with kept-alive connections, the same
// for both servers, so client overhead is identical (and small: the client runs
// on the same two cores as the server it measures). Every failure names the
// request and response.
import http from 'node:http'

export class XrpcRequestError extends Error {
  readonly status: number
  readonly body: string

  constructor(method: string, url: string, status: number, body: string, requestBody?: unknown) {
    const req = requestBody === undefined ? '' : ` with ${truncate(JSON.stringify(requestBody), 400)}`
    super(`${method} ${url}${req} → ${status} ${truncate(body, 600)}`)
    this.name = 'XrpcRequestError'
    this.status = status
    this.body = body
  }
}

const truncate = (s: string, n: number): string => (s.length > n ? s.slice(0, n) + '…' : s)

const TIMEOUT_MS = 60_000

export type Session = { did: string; handle: string; accessJwt: string }

export class XrpcClient {
  readonly service: string
  private readonly url: URL
  /** kept-alive connections: a request costs the client ~0.25 ms of CPU here, fetch (undici) ~0.85 ms */
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 })

  constructor(service: string) {
    this.service = service
    this.url = new URL(service)
    if (this.url.protocol !== 'http:') throw new Error(`the benchmark client speaks plain http to loopback servers, not ${service}`)
  }

  async query<T>(nsid: string, params: Record<string, string>): Promise<T> {
    const path = `/xrpc/${nsid}?${new URLSearchParams(params)}`
    const res = await this.request('GET', path, {})
    const text = res.body.toString('utf8')
    if (res.status !== 200) throw new XrpcRequestError('GET', this.service + path, res.status, text)
    return JSON.parse(text) as T
  }

  /** A GET whose body is binary (a CAR); resolves once the whole body is read. */
  async queryBytes(nsid: string, params: Record<string, string>): Promise<{ bytes: Uint8Array; contentType: string }> {
    const path = `/xrpc/${nsid}?${new URLSearchParams(params)}`
    const res = await this.request('GET', path, {})
    if (res.status !== 200) throw new XrpcRequestError('GET', this.service + path, res.status, res.body.toString('utf8'))
    return { bytes: new Uint8Array(res.body.buffer, res.body.byteOffset, res.body.byteLength), contentType: res.contentType }
  }

  async procedure<T>(nsid: string, body: unknown, accessJwt?: string): Promise<T> {
    const path = `/xrpc/${nsid}`
    const data = Buffer.from(JSON.stringify(body))
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': data.length }
    if (accessJwt) headers.authorization = `Bearer ${accessJwt}`
    const res = await this.request('POST', path, headers, data)
    const text = res.body.toString('utf8')
    if (res.status !== 200) throw new XrpcRequestError('POST', this.service + path, res.status, text, redactPassword(body))
    return (text ? JSON.parse(text) : {}) as T
  }

  private request(method: string, path: string, headers: http.OutgoingHttpHeaders, body?: Buffer): Promise<{ status: number; contentType: string; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ agent: this.agent, host: this.url.hostname, port: this.url.port, method, path, headers, timeout: TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks) }))
      })
      req.on('timeout', () => req.destroy(new Error(`${method} ${this.service}${path}: no answer in ${TIMEOUT_MS / 1000} s`)))
      req.on('error', reject)
      req.end(body)
    })
  }

  async createAccount(name: string): Promise<Session> {
    const handle = `${name}.test`
    const out = await this.procedure<Session>('com.atproto.server.createAccount', {
      handle,
      email: `${name}@example.com`,
      password: 'bench-password-1',
    })
    return { did: out.did, handle: out.handle, accessJwt: out.accessJwt }
  }
}

const redactPassword = (body: unknown): unknown =>
  body && typeof body === 'object' && 'password' in body ? { ...body, password: '…' } : body
