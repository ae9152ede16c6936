/**
 * Shared helpers for the PDS integration tests: raw HTTP (so tests can send
 * what a well-behaved client never would), interop-vector loading, and repo
 * verification against the DID document's signing key.
 */
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { verifyRepoCar } from '@atproto/repo'

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** `ATPROTO_INTEROP_DIR`, else `../shared/interop-vectors/` beside the repo; null when absent. */
export const interopDir = (): string | null => {
  const dir = path.resolve(REPO_ROOT, process.env.ATPROTO_INTEROP_DIR ?? '../shared/interop-vectors/')
  return fs.existsSync(dir) ? dir : null
}

/** Vector lines: `#` lines and empty lines are comments; whitespace is significant and kept. */
export const readLines = (file: string): string[] =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
    .filter((l) => l.length > 0 && !l.startsWith('#'))

export const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T

export type HttpResult = {
  status: number
  headers: http.IncomingHttpHeaders
  bytes: Buffer
  text: string
  /** parsed body when it is JSON, else undefined */
  json: any
}

export type RequestOpts = {
  method?: string
  headers?: Record<string, string>
  /** a string/Buffer is sent as is; an async iterable is sent chunked (no content-length) */
  body?: string | Buffer | AsyncIterable<Buffer>
}

/**
 * One HTTP request over node:http (fetch refuses bodies on GET and always
 * frames bodies its own way). A response that arrives before the body is fully
 * sent (413 on an oversized upload) still counts; a connection reset with no
 * response rejects.
 */
export const request = (url: string, opts: RequestOpts = {}): Promise<HttpResult> =>
  new Promise((resolve, reject) => {
    const u = new URL(url)
    const headers: Record<string, string> = { ...(opts.headers ?? {}) }
    const body = opts.body
    if ((typeof body === 'string' || Buffer.isBuffer(body)) && headers['content-length'] === undefined) {
      headers['content-length'] = String(Buffer.byteLength(body))
    }
    let settled = false
    const req = http.request(
      { hostname: u.hostname, port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', (err) => {
          if (settled) return
          settled = true
          reject(err)
        })
        res.on('end', () => {
          if (settled) return
          settled = true
          const bytes = Buffer.concat(chunks)
          const text = bytes.toString('utf8')
          let json: unknown
          if (/json/.test(String(res.headers['content-type'] ?? ''))) {
            try {
              json = JSON.parse(text)
            } catch {
              json = undefined
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, text, json })
        })
      },
    )
    req.on('error', (err) => {
      // the server may answer and close while we are still writing; wait briefly for that answer
      setTimeout(() => {
        if (settled) return
        settled = true
        reject(err)
      }, 200)
    })
    if (body === undefined) {
      req.end()
    } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
      req.end(body)
    } else {
      void (async () => {
        try {
          for await (const chunk of body) {
            if (req.destroyed) return
            if (!req.write(chunk)) await new Promise<void>((r) => req.once('drain', () => r()))
          }
          req.end()
        } catch (err) {
          req.destroy(err as Error)
        }
      })()
    }
  })

export type Params = Record<string, string | number | boolean | (string | number)[]>

export const queryString = (params: Params = {}): string => {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    for (const x of Array.isArray(v) ? v : [v]) q.append(k, String(x))
  }
  const s = q.toString()
  return s ? `?${s}` : ''
}

/** GET an XRPC query. */
export const xget = (base: string, nsid: string, params: Params = {}, headers: Record<string, string> = {}) =>
  request(`${base}/xrpc/${nsid}${queryString(params)}`, { headers })

/** POST an XRPC procedure with a JSON body (any value, even a non-object). */
export const xpost = (base: string, nsid: string, body: unknown, token?: string, headers: Record<string, string> = {}) =>
  request(`${base}/xrpc/${nsid}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  })

/** A short description of a response, for failure messages. */
export const brief = (r: HttpResult): string => `${r.status} ${r.text.slice(0, 300)}`

/** The `#atproto` signing key of a DID, as a did:key, read straight from the PLC directory. */
export const signingKeyFromPlc = async (plcUrl: string, did: string): Promise<string> => {
  const res = await fetch(`${plcUrl}/${encodeURIComponent(did)}`)
  if (!res.ok) throw new Error(`PLC lookup of ${did} failed: ${res.status}`)
  const doc = (await res.json()) as { verificationMethod?: { id: string; publicKeyMultibase?: string }[] }
  const vm = (doc.verificationMethod ?? []).find((m) => m.id === '#atproto' || m.id === `${did}#atproto`)
  if (!vm?.publicKeyMultibase) throw new Error(`no #atproto key in DID document of ${did}`)
  return `did:key:${vm.publicKeyMultibase}`
}

export type RepoRecords = Map<string, string> // "collection/rkey" -> record cid

/**
 * Downloads the repo (sync.getRepo), verifies the commit signature with the
 * DID document's key and the whole MST, and returns every record it holds.
 */
export const verifiedRepoRecords = async (pdsUrl: string, plcUrl: string, did: string): Promise<{ records: RepoRecords; rev: string }> => {
  const res = await xget(pdsUrl, 'com.atproto.sync.getRepo', { did })
  if (res.status !== 200) throw new Error(`getRepo ${did}: ${brief(res)}`)
  const key = await signingKeyFromPlc(plcUrl, did)
  const verified = await verifyRepoCar(new Uint8Array(res.bytes), did, key)
  const records: RepoRecords = new Map()
  for (const c of verified.creates) records.set(`${c.collection}/${c.rkey}`, c.cid.toString())
  return { records, rev: verified.commit.rev }
}

/** Every record of a collection, following cursors. */
export const listAll = async (
  pdsUrl: string,
  repo: string,
  collection: string,
): Promise<{ uri: string; cid: string; value: unknown }[]> => {
  const out: { uri: string; cid: string; value: unknown }[] = []
  let cursor: string | undefined
  for (let i = 0; i < 10_000; i++) {
    const res = await xget(pdsUrl, 'com.atproto.repo.listRecords', { repo, collection, limit: 100, ...(cursor ? { cursor } : {}) })
    if (res.status !== 200) throw new Error(`listRecords ${repo} ${collection}: ${brief(res)}`)
    const body = res.json as { records: { uri: string; cid: string; value: unknown }[]; cursor?: string }
    out.push(...body.records)
    if (!body.cursor || body.records.length === 0) break
    cursor = body.cursor
  }
  return out
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
