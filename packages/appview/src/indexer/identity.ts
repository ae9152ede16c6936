import { IdResolver, parseToAtprotoDocument, type DidDocument } from '@atproto/identity'
import { subsystemLogger } from '@atsuite/common'

const log = subsystemLogger('appview:identity')

export type ResolvedIdentity = {
  did: string
  /** the handle from the DID document, only when it resolves back to the DID */
  handle: string | null
  /**
   * `verified`/`invalid`: the handle check answered; `unknown`: it could not
   * be made (a timeout, a network error) — keep what was known and try again.
   */
  handleCheck: 'verified' | 'invalid' | 'unknown'
  pdsEndpoint: string | null
  /** did:key of the atproto signing key */
  signingKey: string | null
  doc: DidDocument | null
}

/** DID documents and handle checks, as the indexer and auth need them. Tests may swap it. */
export interface IdentityService {
  /** Resolves the DID document (fresh, not cached) and verifies its handle both ways. */
  resolve(did: string): Promise<ResolvedIdentity>
  /** A DID document, possibly cached (service auth key lookups, feed generators). */
  didDocument(did: string, opts?: { fresh?: boolean }): Promise<DidDocument | null>
}

/**
 * Resolves through PLC / did:web and verifies handles by DNS TXT or HTTPS
 * well-known. Handles under `pdsVerifiedSuffixes` (`.test` on a local
 * network, which no resolver can reach) are verified by asking the PDS the
 * DID document names instead: that PDS is the authority for them.
 */
export class NetworkIdentity implements IdentityService {
  private readonly resolver: IdResolver
  private readonly pdsVerifiedSuffixes: string[]

  constructor(opts: { plcUrl: string; pdsVerifiedSuffixes: string[]; timeoutMs?: number }) {
    // plain fetch: the default refuses http:// and loopback, which local networks use
    this.resolver = new IdResolver({ plcUrl: opts.plcUrl, fetch: globalThis.fetch, timeout: opts.timeoutMs ?? 5000 })
    this.pdsVerifiedSuffixes = opts.pdsVerifiedSuffixes
  }

  async didDocument(did: string, opts: { fresh?: boolean } = {}): Promise<DidDocument | null> {
    return this.resolver.did.resolve(did, opts.fresh ?? false)
  }

  async resolve(did: string): Promise<ResolvedIdentity> {
    const doc = await this.resolver.did.resolve(did, true)
    if (!doc) return { did, handle: null, handleCheck: 'invalid', pdsEndpoint: null, signingKey: null, doc: null }
    const data = parseToAtprotoDocument(doc)
    const claimed = data.handle?.toLowerCase() ?? null
    let handle: string | null = null
    let handleCheck: ResolvedIdentity['handleCheck'] = 'invalid'
    if (claimed) {
      try {
        const resolved = await this.resolveHandle(claimed, data.pds ?? null)
        handle = resolved === did ? claimed : null
        handleCheck = handle ? 'verified' : 'invalid'
      } catch (err) {
        handleCheck = 'unknown'
        log.debug({ err, did, handle: claimed }, 'handle could not be checked')
      }
    }
    return { did, handle, handleCheck, pdsEndpoint: data.pds ?? null, signingKey: data.signingKey ?? null, doc }
  }

  private async resolveHandle(handle: string, pds: string | null): Promise<string | undefined> {
    if (pds && this.pdsVerifiedSuffixes.some((s) => handle.endsWith(s))) {
      const url = new URL('/xrpc/com.atproto.identity.resolveHandle', pds)
      url.searchParams.set('handle', handle)
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
      if (!res.ok) return undefined
      const body: unknown = await res.json()
      return typeof body === 'object' && body !== null && 'did' in body && typeof body.did === 'string' ? body.did : undefined
    }
    return this.resolver.handle.resolve(handle)
  }
}
