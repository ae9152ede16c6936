import type { CollectionIndex } from '../accounts/collection-index.ts'
import { announceSyncState } from './processor.ts'
import { decode as cborDecode } from '@atproto/lex-cbor'
import type { Cid } from '@atproto/lex-data'
import { readCarWithRoot, verifyRepo } from '@atproto/repo'
import type { AccountStore } from '../accounts/account-store.ts'
import type { IdentityCache } from '../identity/identity-cache.ts'
import { resyncLogger as log } from '../logger.ts'
import type { MergedLog } from '../outbox/merged-log.ts'
import type { Clock, DidString } from '../util.ts'
import { writeCar } from '@atsuite/common/car'
import { isLoopback, hostFromEndpoint } from './hostname.ts'

const MAX_DEFERRED = 1000
const RETRY_AFTER_FAILURE_MS = 10_000
const MAX_CONCURRENT = 4
const FETCH_TIMEOUT_MS = 60_000
const MAX_REPO_BYTES = 512 * 1024 * 1024

type Deferred = () => void | Promise<void>

/**
 * Re-synchronises one repo after its chain broke: fetches
 * com.atproto.sync.getRepo from the account's current PDS, verifies the
 * whole CAR (every block, the MST, the commit signature by the DID's key),
 * adopts its commit as the account's head/rev and emits `#sync` (blocks =
 * a CAR holding just the commit) so consumers can resync too.
 *
 * Never runs twice at once for a DID, nor again within 10 s of a failed
 * attempt; at most 4 run at a time. Events for the DID that arrive while it
 * runs are deferred and replayed afterwards in order (those the new head
 * already covers are skipped silently). A failed resync leaves the account
 * desynchronized; its next chain break tries again.
 */
export class Resyncer {
  private readonly identity: IdentityCache
  private readonly accounts: AccountStore
  private readonly collections: CollectionIndex
  private readonly out: MergedLog
  private readonly allowInsecure: boolean
  private readonly clock: Clock
  private readonly running = new Map<string, Deferred[]>()
  private readonly waiting: DidString[] = []
  private readonly lastFailure = new Map<string, number>()
  private active = 0
  private closed = false
  /** completed resyncs (tests, admin) */
  completed = 0
  failed = 0

  constructor(deps: { identity: IdentityCache; accounts: AccountStore; collections: CollectionIndex; out: MergedLog; allowInsecureHosts: boolean; clock: Clock }) {
    this.identity = deps.identity
    this.accounts = deps.accounts
    this.collections = deps.collections
    this.out = deps.out
    this.allowInsecure = deps.allowInsecureHosts
    this.clock = deps.clock
  }

  /** Resyncs running or queued (their DIDs' events are held back until each finishes). */
  get pending(): number {
    return this.running.size
  }

  busy(did: string): boolean {
    return this.running.has(did)
  }

  /** Queues work for a DID being resynced; false when its backlog is full. */
  defer(did: string, fn: Deferred): boolean {
    const q = this.running.get(did)
    if (!q || q.length >= MAX_DEFERRED) return false
    q.push(fn)
    return true
  }

  request(did: DidString, reason: string): void {
    if (this.closed || this.running.has(did)) return
    const failedAt = this.lastFailure.get(did)
    if (failedAt !== undefined && this.clock.now() - failedAt < RETRY_AFTER_FAILURE_MS) return
    log.info({ did, reason }, 'resync requested')
    this.running.set(did, [])
    this.waiting.push(did)
    this.pump()
  }

  close(): void {
    this.closed = true
  }

  private pump(): void {
    while (this.active < MAX_CONCURRENT && this.waiting.length > 0) {
      const did = this.waiting.shift()!
      this.active++
      void this.run(did).finally(() => {
        this.active--
        this.pump()
      })
    }
  }

  private async run(did: DidString): Promise<void> {
    try {
      await this.resync(did)
      this.lastFailure.delete(did)
      this.completed++
    } catch (err) {
      this.failed++
      this.lastFailure.set(did, this.clock.now())
      if (this.lastFailure.size > 100_000) this.lastFailure.clear()
      log.warn({ did, err: (err as Error).message }, 'resync failed; account stays desynchronized')
    }
    const deferred = this.running.get(did) ?? []
    this.running.delete(did)
    for (const fn of deferred) {
      if (this.closed) return
      try {
        await fn()
      } catch (err) {
        log.error({ did, err }, 'deferred event failed after resync')
      }
    }
  }

  private async resync(did: DidString): Promise<void> {
    const ident = await this.identity.refresh(did)
    if (!ident) throw new Error('DID does not resolve')
    const host = hostFromEndpoint(ident.pdsEndpoint)
    if (!host) throw new Error(`bad PDS endpoint ${ident.pdsEndpoint}`)
    const url = new URL('/xrpc/com.atproto.sync.getRepo', ident.pdsEndpoint)
    if (url.protocol === 'http:' && !(this.allowInsecure && isLoopback(host))) throw new Error(`refusing plain http PDS ${ident.pdsEndpoint}`)
    url.searchParams.set('did', did)
    const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error' })
    if (!res.ok) {
      await res.body?.cancel()
      throw new Error(`getRepo answered ${res.status}`)
    }
    const car = await readLimited(res, MAX_REPO_BYTES)
    const { root, blocks } = await readCarWithRoot(car)
    const verified = await verifyRepo(blocks, root, did, ident.signingKey)
    const commitBytes = blocks.get(root)
    if (!commitBytes) throw new Error('commit block missing')
    const commit = cborDecode(commitBytes) as { rev: string; data: Cid }
    if (this.closed) return
    const acc = this.accounts.get(did) ?? this.accounts.create(did, host)
    if (acc.rev !== null && commit.rev < acc.rev) throw new Error(`getRepo returned rev ${commit.rev}, older than ${acc.rev}`)
    acc.rev = commit.rev
    acc.head = root.toString()
    acc.data = commit.data.toString()
    const wasDesynchronized = acc.desynchronized
    acc.desynchronized = false
    this.accounts.save(acc)
    this.collections.replace(did, [...new Set(verified.creates.map((c) => c.collection))])
    this.out.push({
      did,
      type: '#sync',
      body: { did, blocks: writeCar(root, [[root, commitBytes]]), rev: commit.rev, time: new Date(this.clock.now()).toISOString() },
    })
    if (wasDesynchronized) announceSyncState(this.out, acc, false, this.clock)
    log.info({ did, rev: commit.rev }, 'resynced')
  }
}

/** The response body, refusing more than `max` bytes. */
const readLimited = async (res: Response, max: number): Promise<Uint8Array> => {
  const declared = Number(res.headers.get('content-length') ?? 0)
  if (declared > max) {
    await res.body?.cancel()
    throw new Error(`repo of ${declared} bytes is over the ${max} byte limit`)
  }
  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of res.body ?? []) {
    total += chunk.length
    if (total > max) throw new Error(`repo is over the ${max} byte limit`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
