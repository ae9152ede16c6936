import type { AccountState, AccountStore } from '../accounts/account-store.ts'
import type { CollectionIndex } from '../accounts/collection-index.ts'
import type { SyncMode } from '../config.ts'
import type { Identity, IdentityCache } from '../identity/identity-cache.ts'
import { ingestLogger as log } from '../logger.ts'
import type { MergedLog } from '../outbox/merged-log.ts'
import { isDid, type Clock, type DidString } from '../util.ts'
import type { RepoOp, VerifyJob, VerifyResult } from '../validate/commit.ts'
import { CidRef, encodeUint, type CborMap } from '@atsuite/common/dag-cbor'
import { FIREHOSE_MAX_BLOCKS_BYTES, frameHeader } from '@atsuite/common'
import { emptyTreeCid } from '@atsuite/common/mst'
import type { VerifyPool } from '../validate/verify-pool.ts'
import { isTid, tidTimestampMs } from '../validate/tid.ts'
import type { DropReason, HostCounters } from './counters.ts'
import { sameHost } from './hostname.ts'
import type { Resyncer } from './resync.ts'

export const MAX_OPS = 200

/** A verification started ahead of an event's turn (EventProcessor.prepare). */
export type Prepared = { key: string; result: VerifyResult | Promise<VerifyResult> }

type Verified = Extract<VerifyResult, { ok: true }>

/** The sending host, as the processor sees it. */
export type Source = { hostname: string; counters: HostCounters }

/** One upstream message frame: decoded, plus where its bytes are (to re-sequence it without re-encoding). */
export type UpstreamEvent = {
  type: string
  body: CborMap
  bytes: Uint8Array
  bodyStart: number
  seqStart: number
  seqEnd: number
  /** performance.now() when the frame came off the host's socket (the relay's own latency starts here) */
  receivedAt: number
}

/**
 * The relayed frame: our header, then the upstream body bytes exactly as
 * received except for the top-level seq, which becomes ours.
 */
const resequence = (evt: UpstreamEvent) => (seq: number): Uint8Array =>
  Buffer.concat([
    frameHeader(evt.type),
    evt.bytes.subarray(evt.bodyStart, evt.seqStart),
    encodeUint(seq),
    evt.bytes.subarray(evt.seqEnd),
  ])

const ACTIONS = new Set(['create', 'update', 'delete'])

/**
 * The relay's own #account for an account whose chain broke (`active: false,
 * status: desynchronized`) and for one back in sync after a resync or a
 * #sync (its hosting status again: `active: true` unless its host said otherwise).
 */
export const announceSyncState = (out: MergedLog, acc: AccountState, desynchronized: boolean, clock: Clock): void => {
  const time = new Date(clock.now()).toISOString()
  const body = desynchronized
    ? { did: acc.did, active: false, status: 'desynchronized', time }
    : { did: acc.did, active: acc.active, ...(acc.active || !acc.status ? {} : { status: acc.status }), time }
  out.push({ did: acc.did, type: '#account', body })
}

/** The collections a commit's creates and updates wrote to. */
const writtenCollections = (ops: RepoOp[]): Set<string> => {
  const out = new Set<string>()
  for (const op of ops) if (op.action !== 'delete') out.add(op.path.slice(0, op.path.indexOf('/')))
  return out
}

/** The DID an event is about (prefetching identities before processing). */
export const eventDid = (type: string, body: CborMap): DidString | undefined => {
  const did = type === '#commit' ? body.repo : body.did
  return isDid(did) ? did : undefined
}

const validOps = (ops: unknown): ops is RepoOp[] =>
  Array.isArray(ops) &&
  ops.every(
    (op: Record<string, unknown>) =>
      op &&
      typeof op === 'object' &&
      ACTIONS.has(op.action as string) &&
      typeof op.path === 'string' &&
      op.path.split('/').length === 2 &&
      (op.cid === null || op.cid instanceof CidRef) &&
      (op.prev === undefined || op.prev === null || op.prev instanceof CidRef),
  )

export type ProcessorDeps = {
  accounts: AccountStore
  collections: CollectionIndex
  identity: IdentityCache
  pool: VerifyPool
  out: MergedLog
  resync: Resyncer
  clock: Clock
  syncMode: SyncMode
  futureRevToleranceMs: number
}

/**
 * Applies the relay's rules to one upstream event and relays it or drops it
 * (counting why on the sending host). Events of one host must be passed in
 * order, the next only after the previous settled: the rev/since checks and
 * account state depend on it. Returns a Promise when it waits for a DID
 * resolution or a verification thread, else finishes synchronously. Never
 * throws for anything an upstream can send.
 *
 * Every DID-bearing event: the DID must resolve, and its current PDS must be
 * the sending host (re-resolved once, forcing a refresh, before dropping).
 * #commit additionally: size limits, rev syntax and order (> last rev, not in
 * the future), CAR/commit consistency, signature by the DID's key (retried
 * once with a refreshed key), `since` continuing the last rev (else resync),
 * sync v1.1 inversion (strict: drop + resync; lenient: count and relay).
 * #sync: signature and rev not older than the last; resets the chain.
 * #identity refreshes the cached identity; #account updates the status.
 */
export class EventProcessor {
  private readonly d: ProcessorDeps

  constructor(deps: ProcessorDeps) {
    this.d = deps
  }

  process(src: Source, evt: UpstreamEvent, prepared?: Prepared): void | Promise<void> {
    const body = evt.body
    switch (evt.type) {
      case '#commit':
        return this.withIdentity(src, body.repo, (ident) => this.commit(src, evt, ident, false, prepared))
      case '#sync':
        return this.withIdentity(src, body.did, (ident) => this.sync(src, evt, ident, false, prepared))
      case '#identity':
        return this.identityEvent(src, evt)
      case '#account':
        return this.withIdentity(src, body.did, (ident) => this.account(src, evt, ident))
      case '#info':
        log.info({ host: src.hostname, name: body.name, message: body.message }, 'upstream info')
        return
      default:
        // unknown message types are skipped, as the event-stream spec asks
        return
    }
  }

  private drop(src: Source, reason: DropReason, did: unknown, detail?: string): void {
    src.counters.dropped[reason]++
    log.debug({ host: src.hostname, did, reason, detail }, 'dropped upstream event')
  }

  private emit(src: Source, did: string, evt: UpstreamEvent): void {
    src.counters.eventsRelayed++
    this.d.out.push({ did, type: evt.type, body: evt.body, encoded: resequence(evt), receivedAt: evt.receivedAt })
  }

  /** Runs `fn` with the DID's identity once it is known to be hosted by `src`. */
  private withIdentity(src: Source, did: unknown, fn: (ident: Identity) => void | Promise<void>): void | Promise<void> {
    if (!isDid(did)) return this.drop(src, 'bad_frame', did, 'missing or malformed DID')
    const cached = this.d.identity.peek(did)
    if (cached && sameHost(cached.pdsHost, src.hostname)) return fn(cached)
    return this.hostedIdentity(src, did, cached).then((ident) => (ident ? fn(ident) : undefined))
  }

  private async hostedIdentity(src: Source, did: DidString, cached: Identity | undefined): Promise<Identity | null> {
    let ident = cached ?? (await this.d.identity.resolve(did))
    if (ident && !sameHost(ident.pdsHost, src.hostname)) ident = await this.d.identity.refresh(did)
    if (!ident) {
      this.drop(src, 'unresolvable_did', did)
      return null
    }
    if (!sameHost(ident.pdsHost, src.hostname)) {
      this.drop(src, 'wrong_host', did, `DID is hosted on ${ident.pdsHost}`)
      return null
    }
    return ident
  }

  /** The account's state, created or moved to `src` (whose hosting was just verified). */
  private account_(src: Source, did: DidString): AccountState {
    const acc = this.d.accounts.get(did)
    if (!acc) return this.d.accounts.create(did, src.hostname)
    if (acc.host !== src.hostname) this.d.accounts.moveHost(acc, src.hostname)
    return acc
  }

  private checkRev(src: Source, did: string, rev: unknown): rev is string {
    if (!isTid(rev)) {
      this.drop(src, 'bad_frame', did, 'rev is not a TID')
      return false
    }
    if (tidTimestampMs(rev) > this.d.clock.now() + this.d.futureRevToleranceMs) {
      this.drop(src, 'rev_in_future', did, rev)
      return false
    }
    return true
  }

  /** The commit checks that need no account state, as a job for the verification pool. */
  private job(evt: UpstreamEvent, did: string, key: string): VerifyJob | null {
    const b = evt.body
    if (typeof b.rev !== 'string' || !(b.blocks instanceof Uint8Array)) return null
    if (evt.type === '#sync') return { did, rev: b.rev, blocks: b.blocks, root: null, key, ops: null, base: null }
    if (!(b.commit instanceof CidRef) || !validOps(b.ops)) return null
    // a repo's first commit (no since) starts from the empty tree
    const base = b.prevData instanceof CidRef ? b.prevData : b.since === null || b.since === undefined ? emptyTreeCid() : null
    return {
      did,
      rev: b.rev,
      blocks: b.blocks,
      root: b.commit.bytes,
      key,
      ops: b.ops.map((op) => ({ action: op.action, path: op.path, cid: op.cid?.bytes ?? null, prev: op.prev?.bytes ?? null })),
      base: base?.bytes ?? null,
    }
  }

  /**
   * Starts verifying a #commit / #sync as soon as it arrives (before its
   * turn), when the DID's key is already cached: the pool then works ahead
   * of the in-order processing. `process` uses the answer when the key is
   * still the one it expects.
   */
  prepare(src: Source, evt: UpstreamEvent): Prepared | undefined {
    if (evt.type !== '#commit' && evt.type !== '#sync') return undefined
    const did = evt.type === '#commit' ? evt.body.repo : evt.body.did
    if (!isDid(did)) return undefined
    const ident = this.d.identity.peek(did)
    if (!ident || !sameHost(ident.pdsHost, src.hostname)) return undefined
    const job = this.job(evt, did, ident.signingKey)
    if (!job) return undefined
    const result = this.d.pool.verify(job)
    // handled when the event's turn comes; never an unhandled rejection meanwhile
    if (result instanceof Promise) result.catch(() => undefined)
    return { key: ident.signingKey, result }
  }

  /**
   * The verification answer for `evt` with `ident`'s key (the prepared one
   * when it used the same key), retried once with a freshly resolved key
   * when the signature does not verify (key rotation). Null when dropped.
   */
  private verified(src: Source, evt: UpstreamEvent, ident: Identity, prepared: Prepared | undefined): Verified | null | Promise<Verified | null> {
    const did = ident.did
    let first: VerifyResult | Promise<VerifyResult>
    if (prepared && prepared.key === ident.signingKey) first = prepared.result
    else {
      const job = this.job(evt, did, ident.signingKey)
      if (!job) {
        this.drop(src, 'bad_frame', did, `malformed ${evt.type}`)
        return null
      }
      first = this.d.pool.verify(job)
    }
    const check = (res: VerifyResult): Verified | null | Promise<Verified | null> => {
      if (!res.ok) {
        this.drop(src, 'bad_commit', did, res.message)
        return null
      }
      if (res.sigOk) return res
      return this.d.identity.refresh(did).then(async (fresh) => {
        if (fresh && fresh.signingKey !== ident.signingKey && sameHost(fresh.pdsHost, src.hostname)) {
          const job = this.job(evt, did, fresh.signingKey)
          const again = job ? await this.d.pool.verify(job) : null
          if (again?.ok && again.sigOk) return again
        }
        this.drop(src, 'bad_signature', did)
        return null
      })
    }
    return first instanceof Promise ? first.then(check) : check(first)
  }

  private commit(src: Source, evt: UpstreamEvent, ident: Identity, replay: boolean, prepared?: Prepared): void | Promise<void> {
    const did = ident.did
    const body = evt.body
    const { rev, since, commit, blocks, ops, prevData } = body
    if (!(commit instanceof CidRef) || !(blocks instanceof Uint8Array) || !validOps(ops) || !(since === null || since === undefined || isTid(since))) {
      return this.drop(src, 'bad_frame', did, 'malformed #commit')
    }
    if (prevData !== undefined && prevData !== null && !(prevData instanceof CidRef)) return this.drop(src, 'bad_frame', did, 'prevData is not a CID')
    if (body.tooBig === true || ops.length > MAX_OPS || blocks.length > FIREHOSE_MAX_BLOCKS_BYTES) {
      return this.drop(src, 'too_big', did)
    }
    if (!this.checkRev(src, did, rev)) return
    const acc = this.account_(src, did)
    if (this.d.resync.busy(did)) {
      if (!this.d.resync.defer(did, () => this.commit(src, evt, ident, true, prepared))) this.drop(src, 'chain_break', did, 'resync backlog full')
      return
    }
    // the head itself again (a replay after an unclean stop): nothing to do. An account known only
    // from the host's listing has not been relayed yet: its first commit is taken like a new account's.
    if (!acc.listed && acc.head !== null && commit.toString() === acc.head) return
    if (!acc.listed && acc.rev !== null && rev <= acc.rev) {
      if (!replay) this.drop(src, 'rev_not_newer', did, `${rev} <= ${acc.rev}`)
      return
    }
    if (!acc.active) return this.drop(src, 'inactive_account', did, acc.status ?? undefined)
    const sinceRev = (since as string | null | undefined) ?? null
    const base = prevData instanceof CidRef ? prevData : undefined
    const res = this.verified(src, evt, ident, prepared)
    if (res === null) return
    if (!(res instanceof Promise)) return this.commitVerified(src, evt, acc, res, sinceRev, base)
    return res.then((r) => {
      if (r) this.commitVerified(src, evt, acc, r, sinceRev, base)
    })
  }

  private commitVerified(src: Source, evt: UpstreamEvent, acc: AccountState, res: Verified, since: string | null, prevData: CidRef | undefined): void {
    const did = acc.did
    const rev = evt.body.rev as string
    // signed by the account, so it may trigger a resync: check the chain
    const brokenSince = !acc.listed && acc.rev !== null && since !== acc.rev
    const brokenData = !acc.listed && acc.data !== null && prevData !== undefined && prevData.toString() !== acc.data
    if (brokenSince || brokenData) {
      this.drop(src, 'chain_break', did, brokenSince ? `since ${since} but last rev ${acc.rev}` : 'prevData is not the last data')
      this.desync(acc, 'chain break')
      return
    }
    if (res.inversion) {
      src.counters.dropped.bad_inversion++
      if (this.d.syncMode === 'strict') {
        log.warn({ host: src.hostname, did, rev, failure: res.inversion }, 'commit failed sync v1.1 inversion: dropped')
        this.desync(acc, 'inversion failed')
        return
      }
      log.warn({ host: src.hostname, did, rev, failure: res.inversion }, 'commit failed sync v1.1 inversion: relayed (lenient)')
    }
    acc.rev = rev
    acc.head = res.commitCid
    acc.data = res.dataCid
    acc.listed = false
    this.d.accounts.save(acc)
    this.d.collections.add(did, writtenCollections(evt.body.ops as RepoOp[]))
    this.emit(src, did, evt)
  }

  /**
   * An event of `did` whose processing failed on our side (not the host's
   * fault): the account is resynced from its PDS, so what the event carried
   * is not lost to the stream's consumers.
   */
  internalFailure(did: unknown): void {
    if (!isDid(did)) return
    const acc = this.d.accounts.get(did)
    if (acc) this.desync(acc, 'internal error processing an event')
  }

  private desync(acc: AccountState, why: string): void {
    if (!acc.desynchronized) announceSyncState(this.d.out, acc, true, this.d.clock)
    acc.desynchronized = true
    this.d.accounts.save(acc)
    this.d.resync.request(acc.did, why)
  }

  private sync(src: Source, evt: UpstreamEvent, ident: Identity, replay: boolean, prepared?: Prepared): void | Promise<void> {
    const did = ident.did
    const { rev, blocks } = evt.body
    if (!(blocks instanceof Uint8Array)) return this.drop(src, 'bad_frame', did, 'malformed #sync')
    if (blocks.length > FIREHOSE_MAX_BLOCKS_BYTES) return this.drop(src, 'too_big', did)
    if (!this.checkRev(src, did, rev)) return
    const acc = this.account_(src, did)
    if (this.d.resync.busy(did)) {
      if (!this.d.resync.defer(did, () => this.sync(src, evt, ident, true, prepared))) this.drop(src, 'chain_break', did, 'resync backlog full')
      return
    }
    // equal is fine: a #sync on activation repeats the current rev
    if (!acc.listed && acc.rev !== null && rev < acc.rev) {
      if (!replay) this.drop(src, 'rev_not_newer', did, `${rev} < ${acc.rev}`)
      return
    }
    const apply = (res: Verified | null) => {
      if (!res) return
      acc.rev = rev
      acc.head = res.commitCid
      acc.data = res.dataCid
      const wasDesynchronized = acc.desynchronized
      acc.desynchronized = false
      acc.listed = false
      this.d.accounts.save(acc)
      this.emit(src, did, evt)
      if (wasDesynchronized) announceSyncState(this.d.out, acc, false, this.d.clock)
    }
    const res = this.verified(src, evt, ident, prepared)
    return res instanceof Promise ? res.then(apply) : apply(res)
  }

  private async identityEvent(src: Source, evt: UpstreamEvent): Promise<void> {
    const did = evt.body.did
    if (!isDid(did)) return this.drop(src, 'bad_frame', did, 'malformed #identity')
    const ident = await this.d.identity.refresh(did)
    if (!ident) return this.drop(src, 'unresolvable_did', did)
    if (!sameHost(ident.pdsHost, src.hostname)) return this.drop(src, 'wrong_host', did, `DID is hosted on ${ident.pdsHost}`)
    this.account_(src, did)
    this.emit(src, did, evt)
  }

  private account(src: Source, evt: UpstreamEvent, ident: Identity): void {
    const did = ident.did
    const { active, status } = evt.body
    if (typeof active !== 'boolean' || !(status === undefined || status === null || typeof status === 'string')) {
      return this.drop(src, 'bad_frame', did, 'malformed #account')
    }
    const acc = this.account_(src, did)
    acc.active = active
    acc.status = active ? null : ((status as string | undefined) ?? null)
    this.d.accounts.save(acc)
    if (status === 'deleted') this.d.collections.remove(did)
    this.emit(src, did, evt)
  }
}
