import { isValidDidDoc, getSigningKey, type DidDocument } from '@atproto/common-web'
import { P256_JWT_ALG, SECP256K1_JWT_ALG, formatDidKey, multibaseToBytes, parseMultikey } from '@atproto/crypto'
import { httpJson } from './http-json.ts'

/** A DID that resolves but whose answer is no DID document for it. */
export class PoorlyFormattedDidDocumentError extends Error {}

/** The directory or host answered with an error; `status` is its HTTP status (410: a tombstoned did:plc). */
export class DidResolutionError extends Error {
  readonly status: number
  constructor(did: string, status: number, statusText: string) {
    super(`${did}: ${statusText || `HTTP ${status}`}`)
    this.status = status
  }
}

/**
 * DID documents: did:plc from the PLC directory, did:web from the host's
 * `/.well-known/did.json` (http for localhost). The same answers as
 * @atproto/identity's resolver as the PDS configured it (no cache, 3 s per
 * lookup), held to it by tests/did-resolver.test.ts; without its import,
 * which loads three copies of undici, and over node:http rather than fetch.
 */
export class DidDocResolver {
  private readonly plcUrl: string
  private readonly timeoutMs: number

  constructor(plcUrl: string, opts: { timeoutMs?: number } = {}) {
    this.plcUrl = plcUrl
    this.timeoutMs = opts.timeoutMs ?? 3000
  }

  /**
   * The document, or null when the directory or host positively has none.
   * Nothing is cached: every call asks, so every answer is current.
   */
  async resolve(did: string): Promise<DidDocument | null> {
    const doc = await this.fetchDoc(did)
    if (doc === null) return null
    if (!isValidDidDoc(doc) || (doc as DidDocument).id !== did) throw new PoorlyFormattedDidDocumentError(`poorly formatted DID document for ${did}`)
    return doc as DidDocument
  }

  /** The `#atproto` verification method as a did:key (a did:key is its own). */
  async resolveAtprotoKey(did: string): Promise<string> {
    if (did.startsWith('did:key:')) return did
    const doc = await this.resolve(did)
    if (!doc) throw new Error(`could not resolve did: ${did}`)
    const key = atprotoKey(doc)
    if (!key) throw new Error(`could not parse signingKey from doc of ${did}`)
    return key
  }

  private async fetchDoc(did: string): Promise<unknown> {
    const parts = did.split(':')
    if (parts[0] !== 'did') throw new Error(`poorly formatted DID: ${did}`)
    let url: URL
    if (parts[1] === 'plc') url = new URL(`/${encodeURIComponent(did)}`, this.plcUrl)
    else if (parts[1] === 'web') {
      const id = parts.slice(2).map(decodeURIComponent)
      if (id.length < 1) throw new Error(`poorly formatted DID: ${did}`)
      if (id.length > 1) throw new Error(`unsupported did:web with a path: ${did}`)
      url = new URL(`https://${id[0]}/.well-known/did.json`)
      if (url.hostname === 'localhost') url.protocol = 'http'
    } else throw new Error(`unsupported DID method: ${did}`)
    const res = await httpJson('GET', url, undefined, { timeoutMs: this.timeoutMs, accept: 'application/did+ld+json,application/json' })
    const ok = res.status >= 200 && res.status < 300
    if (parts[1] === 'web') return ok ? res.json : null
    // did:plc: positively not found (404), versus any other failure
    if (res.status === 404) return null
    if (!ok) throw new DidResolutionError(did, res.status, (res.json as { message?: string } | undefined)?.message ?? '')
    if (res.json === undefined) throw new Error(`PLC directory answered ${url} with no JSON`)
    return res.json
  }
}

/** The document's `#atproto` key as a did:key, from any of the verification method types atproto uses. */
export const atprotoKey = (doc: DidDocument): string | undefined => {
  const key = getSigningKey(doc)
  if (!key) return undefined
  if (key.type === 'EcdsaSecp256r1VerificationKey2019') return formatDidKey(P256_JWT_ALG, multibaseToBytes(key.publicKeyMultibase))
  if (key.type === 'EcdsaSecp256k1VerificationKey2019') return formatDidKey(SECP256K1_JWT_ALG, multibaseToBytes(key.publicKeyMultibase))
  if (key.type === 'Multikey') {
    const parsed = parseMultikey(key.publicKeyMultibase)
    return formatDidKey(parsed.jwtAlg, parsed.keyBytes)
  }
  return undefined
}
