import { getFeedGenEndpoint } from '@atproto/common-web'
import type { AtUriString, DidString } from '@atproto/syntax'
import { app } from '@atsuite/lexicon'
import type { IdentityService } from '../indexer/identity.ts'
import { feedGenLogger as log } from '../logger.ts'

/** Skeleton bodies larger than this are refused (100 items with long feedContext fit many times over). */
const MAX_SKELETON_BYTES = 1024 * 1024
/** describeFeedGenerator (the isOnline probe) gets at most this long. */
const PROBE_TIMEOUT_MS = 3_000
const ENDPOINT_TTL_MS = 5 * 60 * 1000
const ENDPOINT_CACHE_MAX = 10_000

export type SkeletonItem = app.bsky.feed.defs.SkeletonFeedPost

export type FeedSkeletonPage = { items: SkeletonItem[]; cursor?: string; reqId?: string }

/**
 * Why a generator could not serve: `unknown_feed` is the generator saying the
 * feed is not one of its own (the lexicon's UnknownFeed, a client's mistake);
 * everything else is the generator's failure (no usable DID document or
 * `#bsky_fg` service, unreachable, timed out, a bad status or body).
 */
export class FeedGenError extends Error {
  readonly reason: 'unknown_feed' | 'no_service' | 'unreachable' | 'timeout' | 'bad_response'
  constructor(reason: FeedGenError['reason'], message: string, opts?: { cause?: unknown }) {
    super(message, opts)
    this.reason = reason
  }
}

export type FeedGenClientOptions = {
  identity: IdentityService
  timeoutMs: number
  /** http:// endpoints (local networks, tests); otherwise only https:// */
  allowInsecure: boolean
}

/**
 * Talks to feed generators: resolves a generator DID to the `#bsky_fg`
 * endpoint of its DID document (cached for a few minutes, dropped when a
 * call fails) and calls `app.bsky.feed.getFeedSkeleton` there with a
 * timeout and a size cap. Items that fail the lexicon are dropped one by one;
 * a body that is not a skeleton at all is the generator's failure.
 */
export class FeedGenClient {
  private readonly opts: FeedGenClientOptions
  private readonly endpoints = new Map<DidString, { url: string; at: number }>()

  constructor(opts: FeedGenClientOptions) {
    this.opts = opts
  }

  /** The generator's service endpoint; throws FeedGenError when there is none to call. */
  async endpoint(did: DidString): Promise<string> {
    const cached = this.endpoints.get(did)
    if (cached && Date.now() - cached.at < ENDPOINT_TTL_MS) return cached.url
    let doc
    try {
      doc = await this.opts.identity.didDocument(did, { fresh: true })
    } catch (err) {
      throw new FeedGenError('unreachable', `could not resolve the feed generator's DID document: ${did}`, { cause: err })
    }
    const url = doc ? getFeedGenEndpoint(doc) : undefined
    if (!url) throw new FeedGenError('no_service', `no feed generator service (#bsky_fg) in the DID document of ${did}`)
    if (!this.opts.allowInsecure && !url.startsWith('https://')) {
      throw new FeedGenError('no_service', `the feed generator service of ${did} is not https`)
    }
    if (this.endpoints.size >= ENDPOINT_CACHE_MAX) this.endpoints.clear()
    this.endpoints.set(did, { url, at: Date.now() })
    return url
  }

  /**
   * One page of a feed from its generator. `authorization` is forwarded as
   * is: the caller decides whether the token was minted for this generator.
   */
  async skeleton(
    did: DidString,
    params: { feed: AtUriString; limit: number; cursor?: string },
    authorization: string | undefined,
  ): Promise<FeedSkeletonPage> {
    const base = await this.endpoint(did)
    const url = new URL('/xrpc/app.bsky.feed.getFeedSkeleton', base)
    url.searchParams.set('feed', params.feed)
    url.searchParams.set('limit', String(params.limit))
    if (params.cursor !== undefined) url.searchParams.set('cursor', params.cursor)
    const headers: Record<string, string> = { accept: 'application/json' }
    if (authorization) headers.authorization = authorization
    const { status, body } = await this.getJson(did, url, headers, this.opts.timeoutMs)
    if (status !== 200) {
      if (status === 400 && errorName(body) === 'UnknownFeed') {
        throw new FeedGenError('unknown_feed', `the feed generator does not know this feed: ${params.feed}`)
      }
      throw new FeedGenError('bad_response', `the feed generator answered with status ${status}`)
    }
    return parseSkeleton(did, body)
  }

  /** Whether the generator answers describeFeedGenerator (getFeedGenerator's isOnline). */
  async isOnline(did: DidString): Promise<boolean> {
    try {
      const url = new URL('/xrpc/app.bsky.feed.describeFeedGenerator', await this.endpoint(did))
      const { status, body } = await this.getJson(did, url, { accept: 'application/json' }, Math.min(this.opts.timeoutMs, PROBE_TIMEOUT_MS))
      return status === 200 && app.bsky.feed.describeFeedGenerator.$output.schema.safeValidate(body).success
    } catch (err) {
      if (err instanceof FeedGenError) return false
      throw err
    }
  }

  /** GET with a deadline over the whole exchange and a cap on the body; the endpoint is forgotten on failure. */
  private async getJson(did: DidString, url: URL, headers: Record<string, string>, timeoutMs: number): Promise<{ status: number; body: unknown }> {
    const signal = AbortSignal.timeout(timeoutMs)
    try {
      const res = await fetch(url, { headers, signal, redirect: 'error' })
      const text = await readCapped(res, MAX_SKELETON_BYTES)
      try {
        return { status: res.status, body: text ? JSON.parse(text) : null }
      } catch {
        if (res.status !== 200) return { status: res.status, body: null }
        throw new FeedGenError('bad_response', 'the feed generator answered with a body that is not JSON')
      }
    } catch (err) {
      this.endpoints.delete(did)
      if (err instanceof FeedGenError) throw err
      if (signal.aborted) throw new FeedGenError('timeout', `the feed generator did not answer within ${timeoutMs} ms`, { cause: err })
      log.debug({ err, did }, 'feed generator unreachable')
      throw new FeedGenError('unreachable', 'the feed generator could not be reached', { cause: err })
    }
  }
}

const errorName = (body: unknown): unknown => (typeof body === 'object' && body !== null && 'error' in body ? body.error : undefined)

/** The body as text, refusing more than `max` bytes (by header, and while reading). */
const readCapped = async (res: Response, max: number): Promise<string> => {
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (declared > max) {
    await res.body?.cancel()
    throw new FeedGenError('bad_response', `the feed generator's answer is larger than ${max} bytes`)
  }
  if (!res.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of res.body) {
    size += chunk.byteLength
    if (size > max) throw new FeedGenError('bad_response', `the feed generator's answer is larger than ${max} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

const parseSkeleton = (did: DidString, body: unknown): FeedSkeletonPage => {
  if (typeof body !== 'object' || body === null || !('feed' in body) || !Array.isArray(body.feed)) {
    throw new FeedGenError('bad_response', 'the feed generator answered without a feed')
  }
  const items: SkeletonItem[] = []
  let dropped = 0
  for (const raw of body.feed) {
    const res = app.bsky.feed.defs.skeletonFeedPost.safeValidate(raw)
    if (res.success) items.push(res.value)
    else dropped++
  }
  if (dropped > 0) log.info({ did, dropped }, 'feed generator sent invalid skeleton items')
  const cursor = 'cursor' in body && typeof body.cursor === 'string' ? body.cursor : undefined
  const reqId = 'reqId' in body && typeof body.reqId === 'string' && body.reqId.length <= 100 ? body.reqId : undefined
  return { items, ...(cursor !== undefined ? { cursor } : {}), ...(reqId !== undefined ? { reqId } : {}) }
}

/**
 * The viewer's Authorization header when it carries a service token minted
 * for this generator (aud = its DID, lxm = getFeedSkeleton), which is what a
 * PDS sends with getFeed; undefined otherwise. A token for us (aud = the app
 * view) is never handed on to a third party. The signature and expiry were
 * checked by the auth verifier; only where it may go is decided here.
 */
export const authorizationFor = (authorization: string | undefined, feedDid: DidString): string | undefined => {
  const token = authorization && /^Bearer\s+(\S+)$/i.exec(authorization)?.[1]
  const payload = token?.split('.')[1]
  if (!payload) return undefined
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    if (typeof claims !== 'object' || claims === null || !('aud' in claims) || !('lxm' in claims)) return undefined
    const aud = claims.aud
    const forGenerator = aud === feedDid || (typeof aud === 'string' && aud.startsWith(`${feedDid}#`))
    return forGenerator && claims.lxm === 'app.bsky.feed.getFeedSkeleton' ? authorization : undefined
  } catch {
    return undefined
  }
}
