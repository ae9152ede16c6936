/**
 * A small Mastodon-compatible server for the bridge tests, with its own
 * HTTP Signatures code (draft-cavage, rsa-sha256, `(request-target) host
 * date digest` as Mastodon signs; SHA-256 Digest), not Fedify's: actors with
 * RSA keys, a WebFinger client, signed POSTs to inboxes, and an inbox (shared
 * and personal) that verifies every delivery against the sender's key
 * fetched from its actor document and keeps what arrived.
 */
import { createHash, createSign, createVerify, generateKeyPairSync, randomUUID } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export type Delivered = { path: string; activity: any; verified: boolean; keyId: string | undefined; reason?: string }

const AS_CONTEXT = ['https://www.w3.org/ns/activitystreams', 'https://w3id.org/security/v1']

const digestOf = (body: Buffer | string): string => `SHA-256=${createHash('sha256').update(body).digest('base64')}`

const signingString = (method: string, path: string, headers: Record<string, string>, names: string[]): string =>
  names.map((h) => (h === '(request-target)' ? `(request-target): ${method.toLowerCase()} ${path}` : `${h}: ${headers[h]}`)).join('\n')

export class FediPeer {
  readonly server: http.Server
  readonly delivered: Delivered[] = []
  private readonly keys = generateKeyPairSync('rsa', { modulusLength: 2048 })
  /** a key nobody publishes: signatures made with it are forgeries */
  readonly forgerKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
  private waiters = new Set<() => void>()
  /** senders' keys by keyId, kept as Mastodon keeps known accounts' keys (refetched once when a signature fails) */
  private readonly keyCache = new Map<string, string>()
  /** refuse deliveries (an instance that is down) */
  down = false
  /** deliveries refused while down */
  refused = 0
  port = 0

  private constructor() {
    this.server = http.createServer((req, res) => void this.handle(req, res))
  }

  static async start(port = 0): Promise<FediPeer> {
    const p = new FediPeer()
    await new Promise<void>((resolve) => p.server.listen(port, '127.0.0.1', resolve))
    p.port = (p.server.address() as AddressInfo).port
    return p
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`
  }

  actorUrl(name: string): string {
    return `${this.origin}/users/${name}`
  }

  actor(name: string) {
    const id = this.actorUrl(name)
    return {
      '@context': AS_CONTEXT,
      id,
      type: 'Person',
      preferredUsername: name,
      name: `${name[0].toUpperCase()}${name.slice(1)} on the fediverse`,
      inbox: `${id}/inbox`,
      outbox: `${id}/outbox`,
      followers: `${id}/followers`,
      endpoints: { sharedInbox: `${this.origin}/inbox` },
      publicKey: { id: `${id}#main-key`, owner: id, publicKeyPem: this.keys.publicKey.export({ type: 'spki', format: 'pem' }) },
    }
  }

  /** host names this peer reaches elsewhere than at http://<host> (what DNS would answer: loopback servers) */
  readonly hosts = new Map<string, string>()

  /** WebFinger for `acct` at its own domain (redirects followed), as `{ subject, self }`. */
  private async webfingerAt(acct: string): Promise<{ subject: string; self: string }> {
    const host = acct.slice(acct.lastIndexOf('@') + 1)
    const origin = this.hosts.get(host) ?? `http://${host}`
    const res = await fetch(`${origin}/.well-known/webfinger?resource=${encodeURIComponent(`acct:${acct}`)}`)
    if (!res.ok) throw new Error(`WebFinger ${acct}: ${res.status} ${await res.text()}`)
    const body = (await res.json()) as { subject?: string; links?: { rel: string; type?: string; href: string }[] }
    const self = body.links?.find((l) => l.rel === 'self' && /activity\+json|ld\+json/.test(l.type ?? ''))?.href
    if (!body.subject || !self) throw new Error(`WebFinger ${acct}: no subject or self link`)
    return { subject: body.subject, self }
  }

  /**
   * Mastodon's account resolution: WebFinger at the address's domain; the
   * actor fetched; then its `preferredUsername@<actor host>` looked up, and
   * when that answer's subject names another address, that address looked up
   * at its own domain, which must answer with the same subject and actor
   * (Mastodon's check_webfinger!). Returns the account's canonical address.
   */
  async resolveAccount(acct: string): Promise<{ address: string; actor: any }> {
    const first = await this.webfingerAt(acct)
    const actor = (await this.fetchJson(first.self)).body
    const local = `${actor.preferredUsername}@${new URL(first.self).host}`
    const check = await this.webfingerAt(local)
    if (check.self !== first.self) throw new Error(`${local} names another actor`)
    const address = check.subject.replace(/^acct:/, '')
    if (address !== local) {
      const confirm = await this.webfingerAt(address)
      if (confirm.subject !== check.subject || confirm.self !== first.self) throw new Error(`${address} does not confirm ${first.self}`)
    }
    return { address, actor }
  }

  /** Resolves `acct:<user>@<host>` at `base` (the bridge) to the actor URL, as Mastodon's search does. */
  async webfinger(base: string, acct: string): Promise<{ status: number; actor?: string; body: any }> {
    const res = await fetch(`${base}/.well-known/webfinger?resource=${encodeURIComponent(`acct:${acct}`)}`)
    const body = res.ok ? await res.json() : await res.text()
    const self = res.ok ? (body as { links?: { rel: string; type?: string; href: string }[] }).links?.find((l) => l.rel === 'self' && /activity\+json|ld\+json/.test(l.type ?? '')) : undefined
    return { status: res.status, actor: self?.href, body }
  }

  async fetchJson(url: string): Promise<{ status: number; body: any }> {
    const res = await fetch(url, { headers: { accept: 'application/activity+json' } })
    const text = await res.text()
    try {
      return { status: res.status, body: JSON.parse(text) }
    } catch {
      return { status: res.status, body: text }
    }
  }

  /** A signed POST of `activity` to `inbox` as `name` (or signed with the forger's key, with a body of `raw`, or dated `date`). */
  async post(inbox: string, name: string, activity: unknown, opts: { forge?: boolean; raw?: Buffer; date?: Date } = {}): Promise<number> {
    const body = opts.raw ?? Buffer.from(JSON.stringify(activity))
    const url = new URL(inbox)
    const headers: Record<string, string> = {
      host: url.host,
      date: (opts.date ?? new Date()).toUTCString(),
      digest: digestOf(body),
      'content-type': 'application/activity+json',
    }
    const names = ['(request-target)', 'host', 'date', 'digest']
    const signer = createSign('RSA-SHA256')
    signer.update(signingString('POST', url.pathname, headers, names))
    const signature = signer.sign(opts.forge ? this.forgerKey.privateKey : this.keys.privateKey, 'base64')
    headers.signature = `keyId="${this.actorUrl(name)}#main-key",algorithm="rsa-sha256",headers="${names.join(' ')}",signature="${signature}"`
    const res = await fetch(inbox, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, body })
    await res.arrayBuffer()
    return res.status
  }

  activityId(): string {
    return `${this.origin}/activities/${randomUUID()}`
  }

  /** Resolves once `pred` holds for what arrived (checked on each delivery). */
  async waitFor<T>(pred: (d: Delivered[]) => T | undefined | false, label: string, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const got = pred(this.delivered)
      if (got) return got
      if (Date.now() > deadline) {
        throw new Error(`fediverse peer waiting for ${label}; it has: ${JSON.stringify(this.delivered.map((d) => [d.activity?.type, d.activity?.object?.type ?? d.activity?.object, d.verified]))}`)
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200)
        this.waiters.add(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin)
    const actorMatch = /^\/users\/([a-z0-9_]+)$/.exec(url.pathname)
    if (req.method === 'GET' && actorMatch) {
      res.setHeader('content-type', 'application/activity+json')
      res.end(JSON.stringify(this.actor(actorMatch[1])))
      return
    }
    if (req.method === 'POST' && (url.pathname === '/inbox' || /^\/users\/[a-z0-9_]+\/inbox$/.test(url.pathname))) {
      if (this.down) {
        this.refused++
        res.statusCode = 503
        res.end()
        return
      }
      const chunks: Buffer[] = []
      for await (const c of req) chunks.push(c as Buffer)
      const body = Buffer.concat(chunks)
      const check = await this.verify(req, url.pathname, body)
      let activity: unknown = null
      try {
        activity = JSON.parse(body.toString('utf8'))
      } catch {
        // kept as null
      }
      this.delivered.push({ path: url.pathname, activity, ...check })
      for (const w of this.waiters) w()
      this.waiters.clear()
      res.statusCode = check.verified ? 202 : 401
      res.end()
      return
    }
    res.statusCode = 404
    res.end()
  }

  /** Mastodon's check: Digest matches the body, Date is fresh, the signature verifies with the key its keyId names. */
  private async verify(req: http.IncomingMessage, path: string, body: Buffer): Promise<{ verified: boolean; keyId: string | undefined; reason?: string }> {
    const header = req.headers.signature as string | undefined
    const params = Object.fromEntries([...(header ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
    const keyId = params.keyId
    if (!header || !keyId || !params.signature || !params.headers) return { verified: false, keyId, reason: 'no signature' }
    if (req.headers.digest !== digestOf(body)) return { verified: false, keyId, reason: 'digest' }
    const date = Date.parse(String(req.headers.date))
    if (!Number.isFinite(date) || Math.abs(Date.now() - date) > 5 * 60_000) return { verified: false, keyId, reason: 'date' }
    const names = params.headers.split(' ')
    if (!['(request-target)', 'host', 'date', 'digest'].every((n) => names.includes(n))) return { verified: false, keyId, reason: 'headers' }
    const headers: Record<string, string> = {}
    for (const n of names) if (n !== '(request-target)') headers[n] = String(req.headers[n] ?? '')
    const check = (pem: string) => {
      const verifier = createVerify('RSA-SHA256')
      verifier.update(signingString(req.method ?? 'POST', path, headers, names))
      return verifier.verify(pem, params.signature, 'base64')
    }
    const cached = this.keyCache.get(keyId)
    if (cached && check(cached)) return { verified: true, keyId }
    const keyDoc = await this.fetchJson(keyId)
    const pem = keyDoc.body?.publicKey?.publicKeyPem ?? keyDoc.body?.publicKeyPem
    if (!pem) return { verified: false, keyId, reason: `key not found (${keyDoc.status})` }
    if (!check(pem)) return { verified: false, keyId, reason: 'signature' }
    this.keyCache.set(keyId, pem)
    return { verified: true, keyId }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections()
      this.server.close(() => resolve())
    })
  }
}
