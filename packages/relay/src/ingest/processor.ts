import { isCid, type Cid } from '@atproto/lex-data'
import type { AccountState, AccountStore } from '../accounts/account-store.ts'
import type { SyncMode } from '../config.ts'
import type { Identity, IdentityCache } from '../identity/identity-cache.ts'
import { ingestLogger as log } from '../logger.ts'
import type { MergedLog } from '../outbox/merged-log.ts'
import type { Clock } from '../util.ts'
import { CommitFormatError, invertCommit, missingRecordBlocks, parseCommitCar, verifyCommitSignature, type ParsedCommit, type RepoOp } from '../validate/commit.ts'
import { emptyTreeCid } from '../validate/mst.ts'
import type { SignatureVerifier } from '../validate/signature.ts'
import { isTid, tidTimestampMs } from '../validate/tid.ts'
import type { DropReason, HostCounters } from './counters.ts'
import { sameHost } from './hostname.ts'
import type { Resyncer } from './resync.ts'

export const MAX_OPS = 200
export const MAX_BLOCKS_BYTES = 2_000_000

/** The sending host, as the processor sees it. */
export type Source = { hostname: string; counters: HostCounters }

type Body = Record<string, unknown>

const DID_RE = /^did:[a-z]+:[a-zA-Z0-9._:%-]{1,2048}$/
const ACTIONS = new Set(['create', 'update', 'delete'])

const isDid = (v: unknown): v is string => typeof v === 'string' && DID_RE.test(v)

/** The DID an event is about (prefetching identities before processing). */
export const eventDid = (type: string, body: Body): string | undefined => {
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
      (op.cid === null || isCid(op.cid)) &&
      (op.prev === undefined || op.prev === null || isCid(op.prev)),
  )

/** The body relayed downstream: the upstream body without its seq (the log assigns ours). */
const outgoing = (body: Body): Body => {
  const { seq: _seq, ...rest } = body
  return rest
}

export type ProcessorDeps = {
  accounts: AccountStore
  identity: IdentityCache
  verifier: SignatureVerifier
  out: MergedLog
  resync: Resyncer
  clock: Clock
  syncMode: SyncMode
  futureRevToleranceMs: number
}

/**
 * Applies the relay's rules to one upstream event and relays it or drops it
 * (counting why on the sending host). Synchronous when the DID is cached and
 * the signature verifies with the cached key; a Promise only when it has to
 * resolve a DID. Never throws for anything an upstream can send.
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

  process(src: Source, type: string, body: Body): void | Promise<void> {
    switch (type) {
      case '#commit':
        return this.withIdentity(src, body.repo, (ident) => this.commit(src, body, ident, false))
      case '#sync':
        return this.withIdentity(src, body.did, (ident) => this.sync(src, body, ident, false))
      case '#identity':
        return this.identityEvent(src, body)
      case '#account':
        return this.withIdentity(src, body.did, (ident) => this.account(src, body, ident))
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

  private emit(src: Source, type: string, did: string, body: Body): void {
    src.counters.eventsRelayed++
    this.d.out.push({ did, type, body: outgoing(body) })
  }

  /** Runs `fn` with the DID's identity once it is known to be hosted by `src`. */
  private withIdentity(src: Source, did: unknown, fn: (ident: Identity) => void | Promise<void>): void | Promise<void> {
    if (!isDid(did)) return this.drop(src, 'bad_frame', did, 'missing or malformed DID')
    const cached = this.d.identity.peek(did)
    if (cached && sameHost(cached.pdsHost, src.hostname)) return fn(cached)
    return this.hostedIdentity(src, did, cached).then((ident) => (ident ? fn(ident) : undefined))
  }

  private async hostedIdentity(src: Source, did: string, cached: Identity | undefined): Promise<Identity | null> {
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
  private account_(src: Source, did: string): AccountState {
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

  /** Verifies the signature, retrying once with a freshly resolved key (rotation). */
  private signed(src: Source, did: string, parsed: ParsedCommit, ident: Identity): true | Promise<boolean> {
    if (verifyCommitSignature(this.d.verifier, parsed, ident.signingKey)) return true
    return this.d.identity.refresh(did).then((fresh) => {
      if (fresh && fresh.signingKey !== ident.signingKey && sameHost(fresh.pdsHost, src.hostname)) {
        if (verifyCommitSignature(this.d.verifier, parsed, fresh.signingKey)) return true
      }
      this.drop(src, 'bad_signature', did)
      return false
    })
  }

  private parse(src: Source, did: string, blocks: Uint8Array, root: Cid | undefined, rev: string): ParsedCommit | null {
    let parsed: ParsedCommit
    try {
      parsed = parseCommitCar(blocks, root)
    } catch (err) {
      if (!(err instanceof CommitFormatError)) throw err
      this.drop(src, 'bad_commit', did, err.message)
      return null
    }
    if (parsed.commit.did !== did || parsed.commit.rev !== rev) {
      this.drop(src, 'bad_commit', did, 'commit DID or rev differs from the event')
      return null
    }
    return parsed
  }

  private commit(src: Source, body: Body, ident: Identity, replay: boolean): void | Promise<void> {
    const did = ident.did
    const { rev, since, commit, blocks, ops, prevData } = body
    if (!isCid(commit) || !(blocks instanceof Uint8Array) || !validOps(ops) || !(since === null || since === undefined || isTid(since))) {
      return this.drop(src, 'bad_frame', did, 'malformed #commit')
    }
    if (prevData !== undefined && prevData !== null && !isCid(prevData)) return this.drop(src, 'bad_frame', did, 'prevData is not a CID')
    if (body.tooBig === true || ops.length > MAX_OPS || blocks.length > MAX_BLOCKS_BYTES) {
      return this.drop(src, 'too_big', did)
    }
    if (!this.checkRev(src, did, rev)) return
    const acc = this.account_(src, did)
    if (this.d.resync.busy(did)) {
      if (!this.d.resync.defer(did, () => this.commit(src, body, ident, true))) this.drop(src, 'chain_break', did, 'resync backlog full')
      return
    }
    // the head itself again (a replay after an unclean stop): nothing to do
    if (acc.head !== null && commit.toString() === acc.head) return
    if (acc.rev !== null && rev <= acc.rev) {
      if (!replay) this.drop(src, 'rev_not_newer', did, `${rev} <= ${acc.rev}`)
      return
    }
    if (!acc.active) return this.drop(src, 'inactive_account', did, acc.status ?? undefined)
    const parsed = this.parse(src, did, blocks, commit, rev)
    if (!parsed) return
    const ok = this.signed(src, did, parsed, ident)
    if (ok === true) return this.commitVerified(src, body, acc, parsed, ops, (since as string | null | undefined) ?? null, prevData as Cid | undefined)
    return ok.then((good) => {
      if (good) this.commitVerified(src, body, acc, parsed, ops, (since as string | null | undefined) ?? null, prevData as Cid | undefined)
    })
  }

  private commitVerified(src: Source, body: Body, acc: AccountState, parsed: ParsedCommit, ops: RepoOp[], since: string | null, prevData: Cid | undefined): void {
    const did = acc.did
    // signed by the account, so it may trigger a resync: check the chain
    const brokenSince = acc.rev !== null && since !== acc.rev
    const brokenData = acc.data !== null && prevData !== undefined && prevData !== null && prevData.toString() !== acc.data
    if (brokenSince || brokenData) {
      this.drop(src, 'chain_break', did, brokenSince ? `since ${since} but last rev ${acc.rev}` : 'prevData is not the last data')
      this.desync(acc, 'chain break')
      return
    }
    // a repo's first commit starts from the empty tree
    const base = prevData ?? (since === null ? emptyTreeCid() : undefined)
    let failure = invertCommit(parsed, ops, base)
    if (!failure) {
      const missing = missingRecordBlocks(parsed, ops)
      if (missing.length > 0) failure = `record blocks missing for ${missing.join(', ')}`
    }
    if (failure) {
      src.counters.dropped.bad_inversion++
      if (this.d.syncMode === 'strict') {
        log.warn({ host: src.hostname, did, rev: parsed.commit.rev, failure }, 'commit failed sync v1.1 inversion: dropped')
        this.desync(acc, 'inversion failed')
        return
      }
      log.warn({ host: src.hostname, did, rev: parsed.commit.rev, failure }, 'commit failed sync v1.1 inversion: relayed (lenient)')
    }
    acc.rev = parsed.commit.rev
    acc.head = parsed.cid.toString()
    acc.data = parsed.commit.data.toString()
    this.d.accounts.save(acc)
    this.emit(src, '#commit', did, body)
  }

  private desync(acc: AccountState, why: string): void {
    acc.desynchronized = true
    this.d.accounts.save(acc)
    this.d.resync.request(acc.did, why)
  }

  private sync(src: Source, body: Body, ident: Identity, replay: boolean): void | Promise<void> {
    const did = ident.did
    const { rev, blocks } = body
    if (!(blocks instanceof Uint8Array)) return this.drop(src, 'bad_frame', did, 'malformed #sync')
    if (blocks.length > MAX_BLOCKS_BYTES) return this.drop(src, 'too_big', did)
    if (!this.checkRev(src, did, rev)) return
    const acc = this.account_(src, did)
    if (this.d.resync.busy(did)) {
      if (!this.d.resync.defer(did, () => this.sync(src, body, ident, true))) this.drop(src, 'chain_break', did, 'resync backlog full')
      return
    }
    // equal is fine: a #sync on activation repeats the current rev
    if (acc.rev !== null && rev < acc.rev) {
      if (!replay) this.drop(src, 'rev_not_newer', did, `${rev} < ${acc.rev}`)
      return
    }
    const parsed = this.parse(src, did, blocks, undefined, rev)
    if (!parsed) return
    const apply = () => {
      acc.rev = parsed.commit.rev
      acc.head = parsed.cid.toString()
      acc.data = parsed.commit.data.toString()
      acc.desynchronized = false
      this.d.accounts.save(acc)
      this.emit(src, '#sync', did, body)
    }
    const ok = this.signed(src, did, parsed, ident)
    if (ok === true) return apply()
    return ok.then((good) => {
      if (good) apply()
    })
  }

  private async identityEvent(src: Source, body: Body): Promise<void> {
    const did = body.did
    if (!isDid(did)) return this.drop(src, 'bad_frame', did, 'malformed #identity')
    const ident = await this.d.identity.refresh(did)
    if (!ident) return this.drop(src, 'unresolvable_did', did)
    if (!sameHost(ident.pdsHost, src.hostname)) return this.drop(src, 'wrong_host', did, `DID is hosted on ${ident.pdsHost}`)
    this.account_(src, did)
    this.emit(src, '#identity', did, body)
  }

  private account(src: Source, body: Body, ident: Identity): void {
    const did = ident.did
    const { active, status } = body
    if (typeof active !== 'boolean' || !(status === undefined || status === null || typeof status === 'string')) {
      return this.drop(src, 'bad_frame', did, 'malformed #account')
    }
    const acc = this.account_(src, did)
    acc.active = active
    acc.status = active ? null : ((status as string | undefined) ?? null)
    this.d.accounts.save(acc)
    this.emit(src, '#account', did, body)
  }
}
