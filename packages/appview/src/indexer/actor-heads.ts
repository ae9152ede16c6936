import type { DatetimeString, DidString } from '@atproto/syntax'
import type { IndexWriter } from './writer.ts'

/** How far an account's repo is indexed: the last commit applied. */
export type ActorHead = { rev: string | null; commitCid: string | null; dataCid: string | null }

const CACHE_MAX = 200_000

type Pending = ActorHead & { backfilledAt: DatetimeString | null; reset: boolean }

/**
 * The indexed head of each account, read once and kept in memory (every
 * commit checks it), with the head updates of a transaction written once
 * per account at its end (an account active in a batch is written once).
 * The cache is dropped whenever a transaction fails, so it never holds
 * what was not committed.
 */
export class ActorHeads {
  private readonly w: IndexWriter
  private readonly cache = new Map<DidString, ActorHead | null>()
  private readonly pending = new Map<DidString, Pending>()

  constructor(w: IndexWriter) {
    this.w = w
    w.beforeCommit(() => this.flush())
    w.onRollback(() => {
      this.cache.clear()
      this.pending.clear()
    })
  }

  /** The account's head; undefined when the account has no actor row. */
  get(did: DidString): ActorHead | undefined {
    let head = this.cache.get(did)
    if (head === undefined) {
      head = this.w.get<ActorHead>('SELECT rev, commitCid, dataCid FROM actor WHERE did = ?', did) ?? null
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!)
      this.cache.set(did, head)
    }
    return head ?? undefined
  }

  /** Creates the actor row (head empty) if there is none; true when it was created. */
  ensure(did: DidString, now: DatetimeString): boolean {
    if (this.get(did)) return false
    this.w.run('INSERT INTO actor (did, indexedAt) VALUES (?, ?) ON CONFLICT (did) DO NOTHING', did, now)
    this.cache.set(did, { rev: null, commitCid: null, dataCid: null })
    return true
  }

  /** A commit was applied; `backfilledAt` marks the first time the repo is indexed from its beginning. */
  set(did: DidString, head: ActorHead, backfilledAt: DatetimeString | null = null): void {
    this.cache.set(did, head)
    const prev = this.pending.get(did)
    this.pending.set(did, { ...head, backfilledAt: prev?.backfilledAt ?? backfilledAt, reset: prev?.reset ?? false })
  }

  /** Forget the head (an account deleted: a reappearance is backfilled anew). */
  reset(did: DidString): void {
    this.cache.set(did, { rev: null, commitCid: null, dataCid: null })
    this.pending.set(did, { rev: null, commitCid: null, dataCid: null, backfilledAt: null, reset: true })
  }

  private flush(): void {
    for (const [did, p] of this.pending) {
      if (p.reset && p.rev === null) {
        this.w.run('UPDATE actor SET rev = NULL, commitCid = NULL, dataCid = NULL, backfilledAt = NULL WHERE did = ?', did)
      } else {
        this.w.run(
          p.reset
            ? 'UPDATE actor SET rev = ?, commitCid = ?, dataCid = ?, backfilledAt = ? WHERE did = ?'
            : 'UPDATE actor SET rev = ?, commitCid = ?, dataCid = ?, backfilledAt = COALESCE(backfilledAt, ?) WHERE did = ?',
          p.rev,
          p.commitCid,
          p.dataCid,
          p.backfilledAt,
          did,
        )
      }
    }
    this.pending.clear()
  }
}
