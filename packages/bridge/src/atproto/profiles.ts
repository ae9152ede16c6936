import { IdResolver, MemoryCache } from '@atproto/identity'

export type ProfileImage = { url: string; mimeType: string }
export type ProfileView = { displayName?: string; description?: string; pronouns?: string; website?: string; avatar?: ProfileImage; banner?: ProfileImage }
/** A blob as records carry it: `ref` is `{$link}` in JSON (XRPC), a CID object when decoded from CBOR (the firehose). */
export type BlobRef = { ref?: { $link?: string } | string; mimeType?: string }

/** A blob's CID, whether the record came as JSON (`{$link}`) or decoded from CBOR (a CID object). */
const blobCid = (b: BlobRef | undefined): string | undefined => {
  const ref = b?.ref
  if (!ref) return undefined
  if (typeof ref === 'string') return ref
  if (ref.$link) return ref.$link
  const s = String(ref)
  return /^b[a-z2-7]+$/.test(s) ? s : undefined
}

/** Where an account's blob is served: its own PDS's getBlob, with the blob's type. */
export const blobImage = (pds: string | undefined, did: string, blob: BlobRef | undefined): ProfileImage | undefined => {
  const cid = blobCid(blob)
  if (!cid || !pds) return undefined
  return { url: `${pds}/xrpc/com.atproto.sync.getBlob?did=${encodeURIComponent(did)}&cid=${cid}`, mimeType: blob?.mimeType ?? 'image/jpeg' }
}

const TTL_MS = 5 * 60 * 1000

/**
 * Reads our users' records where they live: each account's PDS (found in its
 * DID document), over com.atproto.repo.getRecord; images as that PDS's
 * getBlob URLs. Profiles are cached a few minutes and dropped when the
 * firehose shows a change.
 */
export class Profiles {
  readonly idResolver: IdResolver
  private readonly cache = new Map<string, { at: number; view: ProfileView }>()

  constructor(plcUrl: string) {
    // DID documents cached (stale after 1 h, dropped after a day), as every activity in or out needs one
    this.idResolver = new IdResolver({ plcUrl, fetch: globalThis.fetch, didCache: new MemoryCache(60 * 60_000, 24 * 60 * 60_000) })
  }

  async pdsOf(did: string): Promise<string | undefined> {
    const data = await this.idResolver.did.resolveAtprotoData(did).catch(() => undefined)
    return data?.pds
  }

  async handleOf(did: string): Promise<string | undefined> {
    const data = await this.idResolver.did.resolveAtprotoData(did, true).catch(() => undefined)
    return data?.handle
  }

  /** A GET of an XRPC query on the account's own PDS; undefined when it cannot be reached or refuses. */
  private async pdsQuery<T>(did: string, nsid: string, params: Record<string, string>): Promise<T | undefined> {
    const pds = await this.pdsOf(did)
    if (!pds) return undefined
    const url = new URL(`/xrpc/${nsid}`, pds)
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
    return res?.ok ? ((await res.json()) as T) : undefined
  }

  async record(did: string, collection: string, rkey: string): Promise<{ cid: string; value: Record<string, unknown> } | undefined> {
    const body = await this.pdsQuery<{ cid?: string; value?: Record<string, unknown> }>(did, 'com.atproto.repo.getRecord', { repo: did, collection, rkey })
    return body?.cid && body.value ? { cid: body.cid, value: body.value } : undefined
  }

  /** An account's latest records of a collection, newest first. */
  async listRecords(did: string, collection: string, limit: number): Promise<{ uri: string; cid: string; value: Record<string, unknown> }[]> {
    const body = await this.pdsQuery<{ records?: { uri: string; cid: string; value: Record<string, unknown> }[] }>(did, 'com.atproto.repo.listRecords', {
      repo: did,
      collection,
      limit: String(limit),
    })
    return body?.records ?? []
  }

  async blobUrl(did: string, blob: BlobRef | undefined): Promise<ProfileImage | undefined> {
    return blob ? blobImage(await this.pdsOf(did), did, blob) : undefined
  }

  async get(did: string): Promise<ProfileView> {
    const hit = this.cache.get(did)
    if (hit && Date.now() - hit.at < TTL_MS) return hit.view
    const rec = await this.record(did, 'app.bsky.actor.profile', 'self')
    const v = (rec?.value ?? {}) as { displayName?: string; description?: string; pronouns?: string; website?: string; avatar?: BlobRef; banner?: BlobRef }
    const str = (x: unknown): string | undefined => (typeof x === 'string' && x ? x : undefined)
    const view: ProfileView = {
      displayName: str(v.displayName),
      description: str(v.description),
      pronouns: str(v.pronouns),
      website: str(v.website) && /^https?:\/\//i.test(v.website!) ? v.website : undefined,
      avatar: await this.blobUrl(did, v.avatar),
      banner: await this.blobUrl(did, v.banner),
    }
    this.cache.set(did, { at: Date.now(), view })
    return view
  }

  invalidate(did: string): void {
    this.cache.delete(did)
  }
}
