import type Database from 'better-sqlite3'
import type { RelayDb } from '../db/index.ts'

type Op = { kind: 'add'; did: string; collection: string } | { kind: 'replace'; did: string; collections: string[] } | { kind: 'remove'; did: string }

/** DIDs whose collections are remembered in memory (past it, the memory starts over; the table is the truth) */
const MAX_KNOWN = 200_000

/**
 * Which accounts have records in which collections, for
 * `com.atproto.sync.listReposByCollection`. Kept from the stream (a relayed
 * commit's creates and updates add their collections), made exact by every
 * resync and every listing of a new host (the whole repo's collections
 * replace the account's), and cleared when an account is deleted. A delete
 * of a collection's last record is only seen by the next resync: the list
 * may name an account that has emptied a collection since, never miss one
 * that has records. Written behind like account state (`flush()`, after the
 * event log), so it never names an account for a commit not in the log.
 */
export class CollectionIndex {
  private readonly db: RelayDb
  /** per DID, collections known to be stored or queued, so the hot path skips them */
  private readonly known = new Map<string, Set<string>>()
  private ops: Op[] = []
  private readonly insert: Database.Statement
  private readonly removeDid: Database.Statement
  private readonly page: Database.Statement

  constructor(db: RelayDb) {
    this.db = db
    this.insert = db.sqlite.prepare('INSERT INTO repo_collection (collection, did) VALUES (?, ?) ON CONFLICT DO NOTHING')
    this.removeDid = db.sqlite.prepare('DELETE FROM repo_collection WHERE did = ?')
    this.page = db.sqlite.prepare('SELECT did FROM repo_collection WHERE collection = ? AND did > ? ORDER BY did LIMIT ?')
  }

  /** Collections a relayed commit wrote to (creates and updates). */
  add(did: string, collections: Iterable<string>): void {
    let mine = this.known.get(did)
    for (const collection of collections) {
      if (mine?.has(collection)) continue
      if (!mine) {
        if (this.known.size >= MAX_KNOWN) this.known.clear()
        mine = new Set()
        this.known.set(did, mine)
      }
      mine.add(collection)
      this.ops.push({ kind: 'add', did, collection })
    }
  }

  /** The account's complete set of collections (a verified whole repo). */
  replace(did: string, collections: string[]): void {
    this.known.set(did, new Set(collections))
    this.ops.push({ kind: 'replace', did, collections })
  }

  remove(did: string): void {
    this.known.delete(did)
    this.ops.push({ kind: 'remove', did })
  }

  flush(): number {
    if (this.ops.length === 0) return 0
    const ops = this.ops
    this.ops = []
    this.db.transaction(() => {
      for (const op of ops) {
        if (op.kind === 'add') this.insert.run(op.collection, op.did)
        else {
          this.removeDid.run(op.did)
          if (op.kind === 'replace') for (const c of op.collections) this.insert.run(c, op.did)
        }
      }
    })
    return ops.length
  }

  /** Accounts with records in `collection`, in DID order after `cursor`. */
  list(collection: string, limit: number, cursor?: string): string[] {
    return (this.page.all(collection, cursor ?? '', limit) as { did: string }[]).map((r) => r.did)
  }
}
