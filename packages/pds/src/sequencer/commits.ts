import { decode as cborDecode } from '@atproto/lex-cbor'
import { encodeCbor } from '@atsuite/common/dag-cbor-encode'
import { encodeFrame, frameHeader, type EventLog } from '@atsuite/common'
import type { ActorDb } from '../actor-store/actor-db.ts'
import type { ActorStore } from '../actor-store/actor-store.ts'
import { UnavailableErr } from '../errors.ts'
import { seqLogger } from '../logger.ts'
import type { PendingEvent } from './events.ts'

/** Where the account DB keeps each repo's last sequenced head (AccountManager). */
export interface SequencedHeads {
  setRepoRoot(did: string, cid: string, rev: string): void
  repoRootRev(did: string): string | undefined
}

/** A commit's event, ready before its transaction: what goes into the outbox and then the log. */
export type PreparedCommitEvent = { event: PendingEvent; seq: number; body: Uint8Array }

const RETRY_MS = 1000

/** An outbox body as committed: with the seq it was expected to get (rows from before that: without). */
const withoutSeq = (body: Record<string, unknown>): Record<string, unknown> => {
  const { seq: _seq, ...rest } = body
  return rest
}

/**
 * Puts each commit's `#commit` event on the firehose exactly once, even
 * across `kill -9` and a failing log.
 *
 * The event is written into the account's own store in the commit's
 * transaction (the outbox: the newest row of the store's `outbox` ring,
 * with the seq it is expected to get), then
 * queued on the firehose log in the same tick (written at the end of the
 * turn, in order with every other append), then the account DB's copy
 * of the head (`repo_root`) is moved (written behind, within 100 ms: it may
 * lag, never lead). So at any instant, the commits not yet sequenced are
 * among the outbox events newer than `repo_root` — exactly those whose expected
 * seq in the log is not this account's `#commit` — which is what
 * `sequenceOutbox` appends, in rev order, with the bodies they were
 * committed with (so `since`/`prevData` chains stay unbroken). It runs at
 * start after an unclean shutdown, before an account's next commit when its
 * last append failed, and on a timer while the log refuses appends.
 */
export class CommitSequencer {
  private readonly log: EventLog
  private readonly heads: SequencedHeads
  private readonly actorStore: ActorStore
  /** accounts whose last commit's event is still only in their outbox */
  private readonly unsequenced = new Set<string>()
  private retryTimer: NodeJS.Timeout | null = null

  constructor(log: EventLog, heads: SequencedHeads, actorStore: ActorStore) {
    this.log = log
    this.heads = heads
    this.actorStore = actorStore
  }

  /** How many accounts have committed events the log has not taken yet (an error state while > 0). */
  get backlog(): number {
    return this.unsequenced.size
  }

  /**
   * Call synchronously right before the commit's transaction (no await in
   * between, so the seq holds). The body is encoded once, with the seq it is
   * expected to get: those bytes go into the outbox, and the log's frame is
   * them behind the header (re-encoded only if the seq turns out different).
   */
  prepare(event: PendingEvent): PreparedCommitEvent {
    const seq = this.log.nextSeq
    const blocks = event.body.blocks
    // header and body written into one buffer: the frame, whose tail is the body
    const header = frameHeader(event.type)
    const frame = encodeCbor({ ...event.body, seq }, (blocks instanceof Uint8Array ? blocks.length : 0) + 512, header)
    const body = frame.subarray(header.length)
    const encoded = (at: number): Uint8Array => (at === seq ? frame : encodeFrame(event.type, { ...event.body, seq: at }))
    return { event: { ...event, encoded }, seq, body }
  }

  /**
   * Inside `transact`, before formatting a commit: the account's earlier
   * events go out first. Throws when the log still refuses them, so the new
   * commit is not made (its event would have to jump the queue).
   */
  beforeCommit(db: ActorDb, did: string): void {
    // the commit's transaction prunes the outbox rows before it: an event of this account still
    // queued is written first, so that a crash cannot take it from both the outbox and the log
    if (this.log.hasQueued(did)) this.log.flushQueued()
    if (!this.unsequenced.has(did)) return
    try {
      this.sequenceOutbox(db, did)
    } catch (err) {
      seqLogger.warn({ err, did }, 'earlier commit events still cannot be sequenced')
      throw new UnavailableErr('The firehose log cannot take events right now; earlier commits of this repo wait to be announced. Try again shortly.')
    }
  }

  /**
   * Right after the commit's transaction, in the same tick: the event is
   * queued on the log with the seq `prepare` expected, and written at the end
   * of the turn with the others queued in it (after the HTTP answer is on its
   * way). Never throws: when the log refuses the batch, the event waits in
   * the outbox and is retried; a crash before the write leaves it there too.
   */
  committed(did: string, prepared: PreparedCommitEvent, head: { cid: string; rev: string }): void {
    this.log.appendSoon([prepared.event], (err) => {
      if (err) {
        seqLogger.error({ err, did, rev: head.rev }, 'firehose log refused a commit event; it stays in the outbox and is retried')
        this.unsequenced.add(did)
        this.scheduleRetry()
        return
      }
      try {
        this.heads.setRepoRoot(did, head.cid, head.rev)
      } catch (err) {
        // the event is out; a stale repo_root only makes a later recovery look the event up in the log
        seqLogger.error({ err, did, rev: head.rev }, 'recording the sequenced head failed')
      }
    })
  }

  /**
   * Appends the outbox events of `did` that are not in the log yet, oldest
   * first, then records the store's head as sequenced. Returns how many were
   * appended and whether the outbox covered the head (when it did not, the
   * store moved without a commit event: an import or re-signing, whose
   * caller announces with #sync). Inside `transact`.
   */
  sequenceOutbox(db: ActorDb, did: string): { appended: number; headCovered: boolean } {
    const root = db.getRoot()
    if (!root) return { appended: 0, headCovered: true }
    const rows = db.outboxAfter(this.heads.repoRootRev(did) ?? '')
    const retainedFrom = this.log.oldestSeq() ?? this.log.nextSeq
    const missing = rows.filter((r) => {
      // trimmed from the log: it was there (an append that failed is retried long before retention ends)
      if (r.seq < retainedFrom) return false
      const at = this.log.at(r.seq)
      return !(at && at.did === did && at.type === '#commit')
    })
    if (missing.length > 0) {
      // seqs recorded first: if the append then fails, the rows are simply still missing
      const first = this.log.nextSeq
      // (the rows only: the account's deferred blocks wait for their batch)
      db.transaction(() => missing.forEach((r, i) => db.setOutboxSeq(r.rev, first + i)), { keepDeferred: true })
      this.log.append(missing.map((r) => ({ did, type: '#commit' as const, body: withoutSeq(cborDecode(r.body) as Record<string, unknown>) })))
    }
    this.unsequenced.delete(did)
    this.heads.setRepoRoot(did, root.cid, root.rev)
    return { appended: missing.length, headCovered: rows.some((r) => r.rev === root.rev) }
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null
      void this.retryAll()
    }, RETRY_MS)
    this.retryTimer.unref()
  }

  private async retryAll(): Promise<void> {
    for (const did of [...this.unsequenced]) {
      if (!this.actorStore.exists(did)) {
        this.unsequenced.delete(did) // deleted meanwhile: nothing of it is to be announced
        continue
      }
      try {
        const { appended } = await this.actorStore.transact(did, (db) => this.sequenceOutbox(db, did))
        if (appended > 0) seqLogger.info({ did, appended }, 'sequenced commit events the firehose log had refused')
      } catch (err) {
        seqLogger.warn({ err, did }, 'earlier commit events still cannot be sequenced')
      }
    }
    if (this.unsequenced.size > 0) this.scheduleRetry()
  }

  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer)
    this.retryTimer = null
  }
}
