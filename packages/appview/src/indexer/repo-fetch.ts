import { verifyRepoCar } from '@atproto/repo'
import type { DidString } from '@atproto/syntax'
import { parseCar } from '@atsuite/common/car'
import { decodeCbor, isMap, CidRef } from '@atsuite/common/dag-cbor'
import type { IdentityService, ResolvedIdentity } from './identity.ts'

export class RepoFetchError extends Error {}

/** A whole repo as of one commit, verified: every record's CID and bytes by `collection/rkey`. */
export type RepoSnapshot = {
  rev: string
  commitCid: string
  dataCid: string
  records: Map<string, { cid: string; bytes: Uint8Array }>
  identity: ResolvedIdentity
}

/**
 * Fetches an account's repo from the PDS its DID document names
 * (`com.atproto.sync.getRepo`) and verifies it: commit signature against the
 * document's signing key, the DID, the MST, every block against its CID.
 */
export class RepoFetcher {
  private readonly identity: IdentityService
  private readonly maxBytes: number
  private readonly allowInsecure: boolean

  constructor(identity: IdentityService, opts: { maxBytes: number; allowInsecure: boolean }) {
    this.identity = identity
    this.maxBytes = opts.maxBytes
    this.allowInsecure = opts.allowInsecure
  }

  async fetch(did: DidString, signal?: AbortSignal): Promise<RepoSnapshot> {
    const identity = await this.identity.resolve(did)
    if (!identity.pdsEndpoint) throw new RepoFetchError(`no PDS in the DID document of ${did}`)
    if (!identity.signingKey) throw new RepoFetchError(`no signing key in the DID document of ${did}`)
    const url = new URL('/xrpc/com.atproto.sync.getRepo', identity.pdsEndpoint)
    if (url.protocol !== 'https:' && !(this.allowInsecure && url.protocol === 'http:')) {
      throw new RepoFetchError(`refusing to fetch a repo over ${url.protocol} from ${url.host}`)
    }
    url.searchParams.set('did', did)
    const res = await fetch(url, { signal: signal ?? AbortSignal.timeout(60_000) })
    if (!res.ok || !res.body) throw new RepoFetchError(`getRepo for ${did} at ${url.host} answered ${res.status}`)
    const car = await readLimited(res.body, this.maxBytes)
    let verified
    try {
      verified = await verifyRepoCar(car, did, identity.signingKey)
    } catch (err) {
      throw new RepoFetchError(`repo of ${did} does not verify: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    const { blocks } = parseCar(car)
    const commitBytes = blocks.get(new CidRef(verified.commit.cid.bytes).key)
    const commit = commitBytes ? decodeCbor(commitBytes) : null
    if (!isMap(commit) || !(commit.data instanceof CidRef)) throw new RepoFetchError(`repo of ${did} has no readable commit`)
    const records = new Map<string, { cid: string; bytes: Uint8Array }>()
    for (const c of verified.creates) {
      const bytes = blocks.get(new CidRef(c.cid.bytes).key)
      if (bytes) records.set(`${c.collection}/${c.rkey}`, { cid: c.cid.toString(), bytes })
    }
    return { rev: verified.commit.rev, commitCid: verified.commit.cid.toString(), dataCid: commit.data.toString(), records, identity }
  }
}

/** Reads a response body, refusing more than `max` bytes. */
const readLimited = async (body: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array> => {
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of body) {
    total += chunk.length
    if (total > max) throw new RepoFetchError(`repo larger than ${max} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
