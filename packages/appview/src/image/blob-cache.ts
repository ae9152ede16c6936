import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { decodeCid, parseCid, type Cid } from '@atproto/lex-data'
import type { DidString } from '@atproto/syntax'
import { SingleFlight } from '@atsuite/common'

export class BlobError extends Error {
  readonly status: 400 | 404 | 502
  readonly errorName: string
  constructor(status: 400 | 404 | 502, errorName: string, message: string) {
    super(message)
    this.status = status
    this.errorName = errorName
  }
}

export type CachedBlob = { file: string; mimeType: string; size: number }

/** The types served as themselves; anything else is served as an attachment-safe octet stream. */
const SAFE_TYPES = /^(image\/(jpeg|png|gif|webp|avif|heic|heif)|video\/(mp4|webm|quicktime|mpeg))$/

const sha256Cid = (bytes: Uint8Array, codec: number): Cid => {
  const digest = crypto.createHash('sha256').update(bytes).digest()
  const prefix = Uint8Array.from([0x01, codec, 0x12, 0x20])
  return decodeCid(Buffer.concat([prefix, digest]))
}

/**
 * Blobs fetched from each account's PDS (`com.atproto.sync.getBlob`), checked
 * against their CID, kept on disk by CID (content-addressed, so a cached
 * file never goes stale). Concurrent requests for one blob share one fetch.
 */
export class BlobCache {
  private readonly dir: string
  private readonly maxBytes: number
  private readonly allowInsecure: boolean
  private readonly downloads = new SingleFlight<string, CachedBlob>()

  constructor(opts: { dir: string; maxBytes: number; allowInsecure: boolean }) {
    this.dir = opts.dir
    this.maxBytes = opts.maxBytes
    this.allowInsecure = opts.allowInsecure
  }

  parseCid(cidStr: string): Cid {
    try {
      return parseCid(cidStr)
    } catch {
      throw new BlobError(400, 'InvalidRequest', `not a CID: ${cidStr}`)
    }
  }

  private paths(cid: Cid): { file: string; meta: string } {
    const s = cid.toString()
    const file = path.join(this.dir, s.slice(-2), s)
    return { file, meta: `${file}.json` }
  }

  async get(did: DidString, cid: Cid, pdsEndpoint: () => Promise<string | null>): Promise<CachedBlob> {
    const { file, meta } = this.paths(cid)
    try {
      const m: unknown = JSON.parse(await fs.readFile(meta, 'utf8'))
      if (typeof m === 'object' && m !== null && 'mimeType' in m && 'size' in m && typeof m.mimeType === 'string' && typeof m.size === 'number') {
        return { file, mimeType: m.mimeType, size: m.size }
      }
    } catch {
      // not cached yet
    }
    return this.downloads.run(cid.toString(), () => this.fetchToDisk(did, cid, pdsEndpoint))
  }

  private async fetchToDisk(did: DidString, cid: Cid, pdsEndpoint: () => Promise<string | null>): Promise<CachedBlob> {
    const pds = await pdsEndpoint()
    if (!pds) throw new BlobError(404, 'NotFound', `no PDS known for ${did}`)
    const url = new URL('/xrpc/com.atproto.sync.getBlob', pds)
    if (url.protocol !== 'https:' && !(this.allowInsecure && url.protocol === 'http:')) {
      throw new BlobError(502, 'UpstreamFailure', `refusing to fetch a blob over ${url.protocol}`)
    }
    url.searchParams.set('did', did)
    url.searchParams.set('cid', cid.toString())
    let res: Response
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(30_000) })
    } catch (err) {
      throw new BlobError(502, 'UpstreamFailure', `blob fetch failed: ${err instanceof Error ? err.message : String(err)}`)
    }
    if (res.status === 400 || res.status === 404) throw new BlobError(404, 'NotFound', 'blob not found on its PDS')
    if (!res.ok || !res.body) throw new BlobError(502, 'UpstreamFailure', `the PDS answered ${res.status}`)
    const chunks: Uint8Array[] = []
    let size = 0
    for await (const chunk of res.body) {
      size += chunk.length
      if (size > this.maxBytes) throw new BlobError(502, 'UpstreamFailure', `blob larger than ${this.maxBytes} bytes`)
      chunks.push(chunk)
    }
    const bytes = Buffer.concat(chunks)
    if (!sha256Cid(bytes, cid.code).equals(cid)) throw new BlobError(502, 'UpstreamFailure', 'blob does not match its CID')
    const declared = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
    const mimeType = SAFE_TYPES.test(declared) ? declared : 'application/octet-stream'
    const { file, meta } = this.paths(cid)
    await fs.mkdir(path.dirname(file), { recursive: true })
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`
    await fs.writeFile(tmp, bytes)
    await fs.rename(tmp, file)
    await fs.writeFile(meta, JSON.stringify({ mimeType, size }))
    return { file, mimeType, size }
  }
}
