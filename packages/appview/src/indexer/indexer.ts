import { EventEmitter } from 'node:events'
import { toDatetimeString, type DatetimeString, type DidString } from '@atproto/syntax'
import { subsystemLogger } from '@atsuite/common'
import type { AppViewDb } from '../db/index.ts'
import type { IndexerCounters } from './counters.ts'
import type { AccountEvent, CommitEvent, StreamEvent, SyncEvent } from './events.ts'
import type { IdentityService } from './identity.ts'
import { IdentityRefresher } from './identity-refresh.ts'
import { RecordProcessor } from './processor.ts'
import type { RepoFetcher, RepoSnapshot } from './repo-fetch.ts'
import { IndexWriter } from './writer.ts'
import { ActorHeads, type ActorHead } from './actor-heads.ts'

const log = subsystemLogger('appview:indexer')

/** How many times a repo fetch is tried (with backoff) before the account's queued events are applied as they are. */
const SYNC_ATTEMPTS = 4
const SYNC_BACKOFF_MS = [500, 2_000, 10_000]
/**
 * How long a batch collects. Live, a batch is what arrived while the last
 * one was applied (flushed on the next turn of the event loop): a new post is
 * indexed within milliseconds. Behind (a backfill, a replay from an old
 * cursor, a burst), the next batch collects for `catchUpWaitMs` or until it
 * holds the indexer's `maxBatch` events: every commit writes each page it
 * dirtied once to the WAL, and on a large index most inserts dirty a page of
 * their own, so fewer, larger commits write a fraction of the bytes (on the
 * benchmark's network at scale 0.1, 37.6 KiB per event with a commit per
 * read, 13 with batches of 40,000) for a second or so on events that are
 * already late.
 *
 * "Behind" needs the next event to be already waiting when a batch is done
 * (it arrives within `backlogGapMs`) and one of:
 * - the batch held at least `catchUpBatch` events, or
 * - the thread had no idle time: event-loop utilisation between the last
 *   `busyBatches` batch ends was at least `busyUtilisation` each (once behind,
 *   `stayUtilisation` keeps it so). This is what sees a backlog that arrives
 *   in small reads: how much one read brings depends on the TCP window (a
 *   link's latency, the host's buffer sizes), so batch sizes alone can stay
 *   at a few events while the indexer never catches up.
 */
export class BatchPacer {
  private lastEnd = -Infinity
  private busyStreak = 0
  private behind = false
  private readonly opts: PacerOptions

  constructor(opts: Partial<PacerOptions> = {}) {
    this.opts = { ...DEFAULT_PACING, ...opts }
  }

  /**
   * A batch of `size` events was applied, finishing at `now` (ms);
   * `utilisation` is the thread's event-loop utilisation (0–1) since the
   * previous batch finished.
   */
  applied(size: number, now: number, utilisation: number): void {
    const o = this.opts
    this.busyStreak = utilisation >= (this.behind ? o.stayUtilisation : o.busyUtilisation) ? this.busyStreak + 1 : 0
    this.behind = size >= o.catchUpBatch || this.busyStreak >= o.busyBatches
    this.lastEnd = now
  }

  /** How long the batch an event arriving at `now` starts should collect (0: the next turn). */
  waitMs(now: number): number {
    return this.behind && now - this.lastEnd < this.opts.backlogGapMs ? this.opts.catchUpWaitMs : 0
  }
}

export interface PacerOptions {
  catchUpBatch: number
  catchUpWaitMs: number
  /** an event arriving this soon after a batch was applied was waiting for it */
  backlogGapMs: number
  busyBatches: number
  busyUtilisation: number
  stayUtilisation: number
}

const DEFAULT_PACING: PacerOptions = {
  catchUpBatch: 500,
  catchUpWaitMs: 1000,
  backlogGapMs: 10,
  busyBatches: 3,
  busyUtilisation: 0.9,
  stayUtilisation: 0.5,
}

/**
 * The most events one transaction applies (the indexer's `maxBatch` is at most
 * this; with the default `APPVIEW_MAX_PENDING_EVENTS` a batch holds up to
 * 200,000). Every page a batch dirties is logged and copied once, however
 * many of its events wrote to it, so larger batches write fewer bytes an
 * event. At scale 1 of `bench:appview` (HACKING.md, Storage): batches of
 * 100,000 with a 4 GiB indexer cache wrote 33.1 KiB an event against 50.9 with
 * batches of 40,000 and 2 GiB (9,710 events/s against 6,635); applied account
 * by account, batches of 200,000 wrote 15.3 KiB an event against 22.0 with
 * 100,000 (8,286 events/s against 7,631, the same day).
 */
const BATCH_MAX = 250_000

/**
 * The longest batch for a stream that pauses past `maxPending` pending events,
 * which is also how many decoded events the stream's thread may hand over
 * ahead of the indexer: a batch can always fill, and while one is applied the
 * next one is read and decoded.
 */
export const batchLimit = (maxPending: number): number => Math.max(64, Math.min(BATCH_MAX, Math.floor(maxPending * 0.8)))

type Outcome = 'done' | 'sync'

/**
 * A batch's events grouped by account, accounts in DID order, each account's
 * events in stream order (all the order indexing needs: no event reads what
 * another account's event of the same batch wrote, so the index comes out the
 * same). Most B-trees an event writes lead with its author: records by URI,
 * the pair tables' key and pair indexes by creator, posts and feed items by
 * author. In stream order each event's insert lands on a page of its own
 * among thousands; in this order an account's ~10 events of a large batch
 * land on the same few pages, one after another, while those are in the
 * CPU's caches.
 */
export const inAccountOrder = (events: StreamEvent[]): StreamEvent[] => {
  if (events.length < 2) return events
  const byDid = Map.groupBy(events, (e) => e.did)
  return [...byDid.keys()].sort().flatMap((did) => byDid.get(did)!)
}

/**
 * Turns the stream into index rows. Events are applied in batches, one
 * SQLite transaction each, together with the stream cursor — so after a
 * crash the cursor and the index agree, and a replayed commit is recognised
 * by its rev and skipped.
 *
 * Per-account order, cross-account progress: an account whose commit does
 * not follow its indexed rev (or is seen first mid-history) is fetched whole
 * (`getRepo`, verified) and diffed against the index; meanwhile its later
 * events wait in its own queue while every other account's events proceed.
 * The persisted cursor never passes the oldest waiting event.
 */
export class Indexer extends EventEmitter<{ progress: []; applying: [] }> {
  private readonly db: AppViewDb
  private readonly w: IndexWriter
  private readonly processor: RecordProcessor
  private readonly heads: ActorHeads
  private readonly counters: IndexerCounters
  private readonly fetcher: RepoFetcher
  private readonly service: string
  private readonly fetchConcurrency: number
  private readonly maxBatch: number

  private batch: StreamEvent[] = []
  private flushScheduled = false
  /** counts flushes: a scheduled flush that a full batch overtook does nothing */
  private flushes = 0
  private readonly pacer = new BatchPacer()
  /** event-loop utilisation when the last batch was applied */
  private lastElu = performance.eventLoopUtilization()
  /** events of accounts waiting for a repo fetch, in stream order */
  private readonly waiting = new Map<DidString, StreamEvent[]>()
  private readonly syncAttempts = new Map<DidString, number>()
  private readonly syncQueue: DidString[] = []
  private activeSyncs = 0
  private readonly identities: IdentityRefresher
  /** highest seq handled (applied, skipped or queued) */
  private lastSeq: number
  private persisted: number
  private receivedSeq = 0
  private readonly hasSavedCursor: boolean
  private closed = false
  private timers = new Set<NodeJS.Timeout>()

  constructor(opts: {
    db: AppViewDb
    counters: IndexerCounters
    fetcher: RepoFetcher
    identity: IdentityService
    service: string
    fetchConcurrency: number
    maxRecordBytes: number
    /** a batch this long is applied at once, without waiting out the pacer (default BATCH_MAX) */
    maxBatch?: number
  }) {
    super()
    this.db = opts.db
    this.w = new IndexWriter(opts.db.sqlite)
    this.counters = opts.counters
    this.processor = new RecordProcessor(this.w, opts.counters, opts.maxRecordBytes)
    this.heads = new ActorHeads(this.w)
    this.fetcher = opts.fetcher
    this.identities = new IdentityRefresher({
      db: opts.db,
      writer: this.w,
      identity: opts.identity,
      counters: opts.counters,
      onDone: () => this.emit('progress'),
    })
    this.service = opts.service
    this.fetchConcurrency = opts.fetchConcurrency
    this.maxBatch = Math.max(1, Math.min(BATCH_MAX, opts.maxBatch ?? BATCH_MAX))
    const row = this.w.get<{ cursor: number }>('SELECT cursor FROM stream_cursor WHERE service = ?', this.service)
    this.persisted = row?.cursor ?? 0
    this.hasSavedCursor = row !== undefined
    this.lastSeq = this.persisted
  }

  /** The seq below which everything is indexed (what a reconnect resumes from). */
  get cursor(): number {
    return this.persisted
  }

  /** Where a reconnect of this process resumes: everything received so far is held in memory. */
  get resumeSeq(): number {
    return Math.max(this.lastSeq, this.receivedSeq)
  }

  /** True before anything was ever indexed from this stream (no cursor saved, nothing received). */
  get fresh(): boolean {
    return !this.hasSavedCursor && this.receivedSeq === 0
  }

  /** Events received but not yet applied (batched or waiting on a repo fetch). */
  get pendingEvents(): number {
    let n = this.batch.length
    for (const q of this.waiting.values()) n += q.length
    return n
  }

  /** True when nothing is batched, waiting, fetching or resolving. */
  get idle(): boolean {
    return this.batch.length === 0 && this.waiting.size === 0 && this.activeSyncs === 0 && this.identities.idle
  }

  push(event: StreamEvent): void {
    if (this.closed) return
    if (event.seq > this.receivedSeq) this.receivedSeq = event.seq
    this.batch.push(event)
    if (this.batch.length >= this.maxBatch) this.flush()
    else this.scheduleFlush()
  }

  /** A frame with a seq that carries nothing to index (info, unknown types, undecodable frames). */
  pushSeq(seq: number): void {
    if (seq > this.receivedSeq) this.receivedSeq = seq
    if (seq > this.lastSeq) this.lastSeq = seq
    this.scheduleFlush()
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    const scheduledAt = this.flushes
    const flush = () => {
      // the batch this was scheduled for was applied when it filled; the next one has its own wait
      if (this.flushes !== scheduledAt) return
      this.flush()
    }
    const wait = this.pacer.waitMs(performance.now())
    if (wait > 0) this.later(wait, flush)
    else setImmediate(flush)
  }

  /** Applies the batch in one transaction, cursor included. */
  flush(): void {
    if (this.closed) return
    this.flushes++
    this.flushScheduled = false
    this.emit('applying')
    const events = inAccountOrder(this.batch)
    this.batch = []
    const now = toDatetimeString(new Date())
    this.counters.count('transactions')
    this.w.transaction(() => {
      for (const evt of events) {
        this.counters.count('events')
        if (evt.seq > this.lastSeq) this.lastSeq = evt.seq
        this.handle(evt, now)
      }
      this.saveCursor()
    })
    const elu = performance.eventLoopUtilization()
    this.pacer.applied(events.length, performance.now(), performance.eventLoopUtilization(elu, this.lastElu).utilization)
    this.lastElu = elu
    this.emit('progress')
  }

  private saveCursor(): void {
    let oldestWaiting = Infinity
    for (const q of this.waiting.values()) if (q[0] && q[0].seq < oldestWaiting) oldestWaiting = q[0].seq
    const cursor = oldestWaiting === Infinity ? this.lastSeq : Math.min(this.lastSeq, oldestWaiting - 1)
    if (cursor === this.persisted) return
    this.w.run(
      'INSERT INTO stream_cursor (service, cursor) VALUES (?, ?) ON CONFLICT (service) DO UPDATE SET cursor = excluded.cursor',
      this.service,
      cursor,
    )
    this.persisted = cursor
  }

  private handle(evt: StreamEvent, now: DatetimeString): void {
    const queue = this.waiting.get(evt.did)
    if (queue) {
      queue.push(evt)
      return
    }
    if (this.apply(evt, now) === 'sync') {
      this.waiting.set(evt.did, [evt])
      this.requestSync(evt.did)
    }
  }

  private apply(evt: StreamEvent, now: DatetimeString): Outcome {
    switch (evt.type) {
      case 'commit':
        return this.applyCommit(evt, now)
      case 'sync':
        return this.applySync(evt)
      case 'identity':
        this.ensureActor(evt.did, now)
        this.refreshIdentity(evt.did)
        return 'done'
      case 'account':
        this.applyAccount(evt, now)
        return 'done'
    }
  }

  private actor(did: DidString): ActorHead | undefined {
    return this.heads.get(did)
  }

  /** Creates the actor row on first sight (and resolves its identity in the background). */
  private ensureActor(did: DidString, now: DatetimeString): ActorHead {
    if (this.heads.ensure(did, now)) this.refreshIdentity(did)
    return this.heads.get(did) ?? { rev: null, commitCid: null, dataCid: null }
  }

  private applyCommit(evt: CommitEvent, now: DatetimeString): Outcome {
    this.counters.count('commits')
    const actor = this.ensureActor(evt.did, now)
    if (actor.rev !== null && evt.rev <= actor.rev) {
      this.counters.skip('stale_commit')
      return 'done'
    }
    const follows =
      actor.rev === null
        ? evt.since === null
        : evt.since === actor.rev || (evt.prevData !== null && evt.prevData === actor.dataCid)
    if (!follows || evt.tooBig) return 'sync'
    for (const op of evt.ops) {
      if (!this.processor.applyOp(evt.did, op, now)) return 'sync'
    }
    this.heads.set(evt.did, { rev: evt.rev, commitCid: evt.commitCid, dataCid: evt.dataCid }, evt.since === null ? now : null)
    return 'done'
  }

  private applySync(evt: SyncEvent): Outcome {
    const actor = this.actor(evt.did)
    if (actor?.commitCid === evt.commitCid) return 'done'
    if (actor?.rev && evt.rev <= actor.rev) {
      this.counters.skip('stale_commit')
      return 'done'
    }
    return 'sync'
  }

  private applyAccount(evt: AccountEvent, now: DatetimeString): void {
    this.ensureActor(evt.did, now)
    const status = evt.active ? null : (evt.status ?? 'deactivated')
    this.w.run('UPDATE actor SET status = ? WHERE did = ?', status, evt.did)
    if (status === 'deleted') {
      // gone for good: its records (and what they counted) go; a later reappearance is backfilled anew
      this.processor.deleteAllRecords(evt.did)
      this.heads.reset(evt.did)
      this.w.unindexActorText(evt.did)
    }
  }

  // repo fetches (backfill of a new account, resync of a broken chain)

  private requestSync(did: DidString): void {
    if (!this.syncQueue.includes(did)) this.syncQueue.push(did)
    this.pumpSyncs()
  }

  private pumpSyncs(): void {
    while (!this.closed && this.activeSyncs < this.fetchConcurrency && this.syncQueue.length > 0) {
      const did = this.syncQueue.shift()!
      this.activeSyncs++
      void this.runSync(did).finally(() => {
        this.activeSyncs--
        this.pumpSyncs()
        this.emit('progress')
      })
    }
  }

  private async runSync(did: DidString): Promise<void> {
    const attempt = (this.syncAttempts.get(did) ?? 0) + 1
    this.syncAttempts.set(did, attempt)
    let snapshot: RepoSnapshot | null = null
    try {
      snapshot = await this.fetcher.fetch(did)
    } catch (err) {
      log.warn({ err, did, attempt }, 'repo fetch failed')
      if (attempt < SYNC_ATTEMPTS && !this.closed) {
        this.later(SYNC_BACKOFF_MS[attempt - 1] ?? 10_000, () => this.requestSync(did))
        return
      }
      this.counters.count('resync_failures')
    }
    if (this.closed) return
    const now = toDatetimeString(new Date())
    this.w.transaction(() => {
      if (snapshot) this.applySnapshot(did, snapshot, now)
      this.drain(did, now, snapshot === null)
      this.saveCursor()
    })
  }

  private applySnapshot(did: DidString, s: RepoSnapshot, now: DatetimeString): void {
    const wasBackfilled = this.w.exists('SELECT 1 FROM actor WHERE did = ? AND backfilledAt IS NOT NULL', did)
    this.counters.count(wasBackfilled ? 'resyncs' : 'backfills')
    this.processor.applySnapshot(did, s.records, now)
    this.heads.set(did, { rev: s.rev, commitCid: s.commitCid, dataCid: s.dataCid }, now)
    this.w.run('UPDATE actor SET pdsEndpoint = ?, signingKey = ?, identityRefreshedAt = ? WHERE did = ?', s.identity.pdsEndpoint, s.identity.signingKey, now, did)
    if (s.identity.handleCheck === 'unknown') {
      this.refreshIdentity(did)
    } else {
      this.w.run('UPDATE actor SET handle = ? WHERE did = ?', s.identity.handle, did)
      this.w.indexActorText(did)
    }
  }

  /**
   * Applies what waited on a fetch. `force` (the fetch failed for good):
   * commits are applied even when they do not follow, as the best this
   * index can do.
   */
  private drain(did: DidString, now: DatetimeString, force: boolean): void {
    const queue = this.waiting.get(did) ?? []
    this.waiting.delete(did)
    for (let i = 0; i < queue.length; i++) {
      const evt = queue[i]!
      const outcome = force && evt.type === 'commit' ? this.forceCommit(evt, now) : this.apply(evt, now)
      if (outcome === 'sync') {
        this.waiting.set(did, queue.slice(i))
        this.requestSync(did)
        return
      }
    }
    this.syncAttempts.delete(did)
  }

  private forceCommit(evt: CommitEvent, now: DatetimeString): Outcome {
    const actor = this.ensureActor(evt.did, now)
    if (actor.rev !== null && evt.rev <= actor.rev) return 'done'
    for (const op of evt.ops) this.processor.applyOp(evt.did, op, now)
    this.heads.set(evt.did, { rev: evt.rev, commitCid: evt.commitCid, dataCid: evt.dataCid })
    return 'done'
  }

  /** Re-resolves an account's identity in the background (see IdentityRefresher). */
  refreshIdentity(did: DidString): void {
    this.identities.refresh(did)
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, ms)
    this.timers.add(t)
  }

  close(): void {
    if (this.closed) return
    if (this.batch.length > 0) this.flush()
    this.closed = true
    this.identities.close()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }
}
