import { IdResolver, parseToAtprotoDocument } from '@atproto/identity'
import { hostFromEndpoint } from '../ingest/hostname.ts'
import { ingestLogger as log } from '../logger.ts'
import type { Clock, DidString } from '../util.ts'

/** What the relay needs from a DID document. */
export type Identity = {
  did: DidString
  /** did:key of the atproto signing key */
  signingKey: string
  /** the #atproto_pds endpoint, e.g. https://pds.example.com */
  pdsEndpoint: string
  /** normalised host of pdsEndpoint */
  pdsHost: string
  handle: string | undefined
  fetchedAt: number
}

const MAX_ENTRIES = 500_000
const NEGATIVE_TTL_MS = 5_000
const FORCE_REFRESH_MIN_INTERVAL_MS = 2_000
const MAX_CONCURRENT_FETCHES = 32

/**
 * DID → identity, cached in memory in front of @atproto/identity's
 * IdResolver (which does the PLC / did:web fetching). `peek` is synchronous
 * (the hot path); `resolve` fetches on a miss, deduplicating concurrent
 * lookups. Entries older than the TTL are still served while a background
 * refresh runs. A DID that failed to resolve is remembered as unresolvable
 * for a few seconds so a host spamming unknown DIDs cannot hammer the PLC.
 * Forced refreshes (key rotation, host mismatch) are rate-limited per DID
 * (delayed, never answered from the cache), and at most 32 lookups run at
 * once (a burst of new DIDs queues).
 */
export class IdentityCache {
  private readonly resolver: IdResolver
  private readonly ttlMs: number
  private readonly clock: Clock
  private readonly entries = new Map<string, Identity>()
  private readonly negative = new Map<string, number>()
  private readonly inflight = new Map<string, Promise<Identity | null>>()
  private readonly lastForced = new Map<string, number>()
  private readonly scheduled = new Map<string, Promise<Identity | null>>()
  private running = 0
  private readonly waiting: (() => void)[] = []

  constructor(resolver: IdResolver, opts: { ttlMs: number; clock: Clock }) {
    this.resolver = resolver
    this.ttlMs = opts.ttlMs
    this.clock = opts.clock
  }

  /** The cached identity, if any (stale entries trigger a background refresh). */
  peek(did: DidString): Identity | undefined {
    const hit = this.entries.get(did)
    if (hit && this.clock.now() - hit.fetchedAt > this.ttlMs && !this.inflight.has(did)) {
      void this.fetch(did, true)
    }
    return hit
  }

  /** True when `did` failed to resolve within the last few seconds. */
  knownUnresolvable(did: string): boolean {
    const until = this.negative.get(did)
    if (until === undefined) return false
    if (until > this.clock.now()) return true
    this.negative.delete(did)
    return false
  }

  /** Cached identity or a fresh lookup; null when the DID does not resolve to a usable atproto identity. */
  async resolve(did: DidString): Promise<Identity | null> {
    const hit = this.peek(did)
    if (hit) return hit
    if (this.knownUnresolvable(did)) return null
    return this.fetch(did, false)
  }

  /**
   * Re-fetches bypassing the cache; the answer always comes from a lookup
   * that started after this call, because a caller refreshes on evidence
   * (an event from another host, a signature by another key) that may be
   * newer than anything read so far. Rate-limited per DID: within a couple
   * of seconds of the last forced lookup, one more runs when the interval is
   * up, shared by every caller meanwhile. (Answering with the entry that
   * lookup left would drop the events of an account that had just moved:
   * the lookup may have read its DID document before the move.)
   */
  refresh(did: DidString): Promise<Identity | null> {
    const queued = this.scheduled.get(did)
    if (queued) return queued
    const last = this.lastForced.get(did)
    const wait = last === undefined ? 0 : last + FORCE_REFRESH_MIN_INTERVAL_MS - this.clock.now()
    if (wait <= 0) return this.forcedFetch(did)
    const p = new Promise<void>((resolve) => setTimeout(resolve, wait).unref()).then(() => {
      this.scheduled.delete(did)
      return this.forcedFetch(did)
    })
    this.scheduled.set(did, p)
    return p
  }

  private forcedFetch(did: DidString): Promise<Identity | null> {
    this.lastForced.set(did, this.clock.now())
    if (this.lastForced.size > 10_000) this.lastForced.clear()
    this.negative.delete(did)
    // a lookup already running started before the caller's evidence: run another after it
    const pending = this.inflight.get(did)
    const p: Promise<Identity | null> = (pending ? pending.then(() => this.doFetch(did, true)) : this.doFetch(did, true)).finally(() => {
      if (this.inflight.get(did) === p) this.inflight.delete(did)
    })
    this.inflight.set(did, p)
    return p
  }

  /** Drops a cached entry (the next event resolves again). */
  purge(did: string): void {
    this.entries.delete(did)
    this.negative.delete(did)
  }

  private fetch(did: DidString, force: boolean): Promise<Identity | null> {
    const pending = this.inflight.get(did)
    if (pending) return pending
    const p: Promise<Identity | null> = this.doFetch(did, force).finally(() => {
      if (this.inflight.get(did) === p) this.inflight.delete(did)
    })
    this.inflight.set(did, p)
    return p
  }

  private async doFetch(did: DidString, force: boolean): Promise<Identity | null> {
    if (this.running >= MAX_CONCURRENT_FETCHES) await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.running++
    try {
      return await this.lookup(did, force)
    } finally {
      this.running--
      this.waiting.shift()?.()
    }
  }

  private async lookup(did: DidString, force: boolean): Promise<Identity | null> {
    let identity: Identity | null = null
    try {
      const doc = await this.resolver.did.resolve(did, force)
      if (doc) {
        const data = parseToAtprotoDocument(doc)
        const pdsHost = data.pds ? hostFromEndpoint(data.pds) : null
        if (data.did === did && data.signingKey && data.pds && pdsHost) {
          identity = { did, signingKey: data.signingKey, pdsEndpoint: data.pds, pdsHost, handle: data.handle, fetchedAt: this.clock.now() }
        }
      }
    } catch (err) {
      // transient (network, timeout): keep serving what we had
      log.debug({ did, err: (err as Error).message }, 'DID resolution failed')
      const prev = this.entries.get(did)
      if (prev) return prev
    }
    if (identity) {
      if (this.entries.size >= MAX_ENTRIES && !this.entries.has(did)) {
        this.entries.delete(this.entries.keys().next().value as string)
      }
      this.entries.delete(did)
      this.entries.set(did, identity)
      this.negative.delete(did)
    } else {
      this.entries.delete(did)
      this.negative.set(did, this.clock.now() + NEGATIVE_TTL_MS)
      if (this.negative.size > 100_000) this.negative.clear()
    }
    return identity
  }
}
