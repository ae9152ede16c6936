// The benchmark's only client: plain fetch, the same for both servers, so
// client overhead is identical. Every failure names the request and response.

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

  constructor(service: string) {
    this.service = service
  }

  async query<T>(nsid: string, params: Record<string, string>): Promise<T> {
    const url = `${this.service}/xrpc/${nsid}?${new URLSearchParams(params)}`
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
    const text = await res.text()
    if (!res.ok) throw new XrpcRequestError('GET', url, res.status, text)
    return JSON.parse(text) as T
  }

  /** A GET whose body is binary (a CAR); resolves once the whole body is read. */
  async queryBytes(nsid: string, params: Record<string, string>): Promise<{ bytes: Uint8Array; contentType: string }> {
    const url = `${this.service}/xrpc/${nsid}?${new URLSearchParams(params)}`
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
    if (!res.ok) throw new XrpcRequestError('GET', url, res.status, await res.text())
    return { bytes: new Uint8Array(await res.arrayBuffer()), contentType: res.headers.get('content-type') ?? '' }
  }

  async procedure<T>(nsid: string, body: unknown, accessJwt?: string): Promise<T> {
    const url = `${this.service}/xrpc/${nsid}`
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (accessJwt) headers.authorization = `Bearer ${accessJwt}`
    const res = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
    const text = await res.text()
    if (!res.ok) throw new XrpcRequestError('POST', url, res.status, text, redactPassword(body))
    return (text ? JSON.parse(text) : {}) as T
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
