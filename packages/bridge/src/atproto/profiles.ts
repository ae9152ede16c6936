import { IdResolver, MemoryCache } from '@atproto/identity'

export type ProfileImage = { url: string; mimeType: string }
export type ProfileView = { displayName?: string; description?: string; avatar?: ProfileImage; banner?: ProfileImage }
type BlobRef = { ref?: { $link?: string; toString(): string }; mimeType?: string }

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

  async record(did: string, collection: string, rkey: string): Promise<{ cid: string; value: Record<string, unknown> } | undefined> {
    const pds = await this.pdsOf(did)
    if (!pds) return undefined
    const url = new URL('/xrpc/com.atproto.repo.getRecord', pds)
    url.searchParams.set('repo', did)
    url.searchParams.set('collection', collection)
    url.searchParams.set('rkey', rkey)
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
    if (!res?.ok) return undefined
    const body = (await res.json()) as { cid?: string; value?: Record<string, unknown> }
    return body.cid && body.value ? { cid: body.cid, value: body.value } : undefined
  }

  /** An account's latest records of a collection, newest first. */
  async listRecords(did: string, collection: string, limit: number): Promise<{ uri: string; cid: string; value: Record<string, unknown> }[]> {
    const pds = await this.pdsOf(did)
    if (!pds) return []
    const url = new URL('/xrpc/com.atproto.repo.listRecords', pds)
    url.searchParams.set('repo', did)
    url.searchParams.set('collection', collection)
    url.searchParams.set('limit', String(limit))
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
    if (!res?.ok) return []
    return ((await res.json()) as { records?: { uri: string; cid: string; value: Record<string, unknown> }[] }).records ?? []
  }

  async blobUrl(did: string, blob: BlobRef | undefined): Promise<ProfileImage | undefined> {
    const cid = blob?.ref?.$link ?? (blob?.ref ? String(blob.ref) : undefined)
    const pds = await this.pdsOf(did)
    if (!cid || !pds || cid === '[object Object]') return undefined
    return { url: `${pds}/xrpc/com.atproto.sync.getBlob?did=${encodeURIComponent(did)}&cid=${cid}`, mimeType: blob?.mimeType ?? 'image/jpeg' }
  }

  async get(did: string): Promise<ProfileView> {
    const hit = this.cache.get(did)
    if (hit && Date.now() - hit.at < TTL_MS) return hit.view
    const rec = await this.record(did, 'app.bsky.actor.profile', 'self')
    const v = (rec?.value ?? {}) as { displayName?: string; description?: string; avatar?: BlobRef; banner?: BlobRef }
    const view: ProfileView = {
      displayName: v.displayName || undefined,
      description: v.description || undefined,
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
