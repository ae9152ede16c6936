import type Database from 'better-sqlite3'
import type { AccountRow, RelayDb } from '../db/index.ts'
import { isDid, type DidString } from '../util.ts'

/** Per-account sync state, as the ingest path sees it. */
export type AccountState = {
  did: DidString
  host: string
  head: string | null
  rev: string | null
  data: string | null
  active: boolean
  status: string | null
  desynchronized: boolean
  /** taken from the host's listRepos and not seen on the stream since (in memory only; see ingest/enumerate.ts) */
  listed?: boolean
}

const MAX_CACHED = 200_000

/**
 * Per-account state in memory with write-behind: `get` reads through to
 * SQLite once per account (synchronously, a primary-key lookup), `save`
 * only marks the entry dirty, and `flush()` writes every dirty entry in one
 * transaction (the relay calls it on a short timer and at shutdown). Clean
 * entries are evicted oldest-first past a bound; dirty ones never are.
 * Host account counts are kept here too, so listHosts never scans.
 */
const fromRow = (row: AccountRow): AccountState => {
  // only ever written from a checked DID; anything else is a corrupt table
  if (!isDid(row.did)) throw new Error(`account table holds a malformed DID: ${JSON.stringify(row.did)}`)
  return {
    did: row.did,
    host: row.host,
    head: row.head,
    rev: row.rev,
    data: row.data,
    active: row.active === 1,
    status: row.status,
    desynchronized: row.desynchronized === 1,
  }
}

export class AccountStore {
  private readonly db: RelayDb
  private readonly cache = new Map<string, AccountState>()
  private readonly dirty = new Map<string, AccountState>()
  private readonly counts = new Map<string, number>()
  private readonly getStmt: Database.Statement
  private readonly upsertStmt: Database.Statement

  constructor(db: RelayDb) {
    this.db = db
    this.getStmt = db.sqlite.prepare('SELECT * FROM account WHERE did = ?')
    this.upsertStmt = db.sqlite.prepare(`
      INSERT INTO account (did, host, head, rev, data, active, status, desynchronized, updatedAt)
      VALUES (@did, @host, @head, @rev, @data, @active, @status, @desynchronized, @updatedAt)
      ON CONFLICT (did) DO UPDATE SET host = excluded.host, head = excluded.head, rev = excluded.rev,
        data = excluded.data, active = excluded.active, status = excluded.status,
        desynchronized = excluded.desynchronized, updatedAt = excluded.updatedAt`)
    const rows = db.sqlite.prepare('SELECT host, count(*) AS n FROM account GROUP BY host').all() as { host: string; n: number }[]
    for (const r of rows) this.counts.set(r.host, r.n)
  }

  get(did: string): AccountState | undefined {
    const hit = this.cache.get(did)
    if (hit) return hit
    const row = this.getStmt.get(did) as AccountRow | undefined
    if (!row) return undefined
    const acc = fromRow(row)
    this.remember(acc)
    return acc
  }

  /** A new account first seen on `host` (not yet known to the store). */
  create(did: DidString, host: string): AccountState {
    const acc: AccountState = { did, host, head: null, rev: null, data: null, active: true, status: null, desynchronized: false }
    this.remember(acc)
    this.counts.set(host, (this.counts.get(host) ?? 0) + 1)
    this.dirty.set(did, acc)
    return acc
  }

  /** Moves an account to another host (a verified migration). */
  moveHost(acc: AccountState, host: string): void {
    if (acc.host === host) return
    this.counts.set(acc.host, Math.max(0, (this.counts.get(acc.host) ?? 1) - 1))
    this.counts.set(host, (this.counts.get(host) ?? 0) + 1)
    acc.host = host
    this.save(acc)
  }

  save(acc: AccountState): void {
    this.dirty.set(acc.did, acc)
  }

  accountCount(host: string): number {
    return this.counts.get(host) ?? 0
  }

  /** Writes every dirty account in one transaction. */
  flush(): number {
    if (this.dirty.size === 0) return 0
    const now = new Date().toISOString()
    const accounts = [...this.dirty.values()]
    this.dirty.clear()
    this.db.transaction(() => {
      for (const a of accounts) {
        this.upsertStmt.run({
          did: a.did,
          host: a.host,
          head: a.head,
          rev: a.rev,
          data: a.data,
          active: a.active ? 1 : 0,
          status: a.status,
          desynchronized: a.desynchronized ? 1 : 0,
          updatedAt: now,
        })
      }
    })
    return accounts.length
  }

  /** Accounts by DID, after `cursor` (keyset pagination). Flushes first so the answer is current. */
  list(limit: number, cursor?: string): AccountState[] {
    this.flush()
    const rows = (
      cursor
        ? this.db.sqlite.prepare('SELECT * FROM account WHERE did > ? ORDER BY did LIMIT ?').all(cursor, limit)
        : this.db.sqlite.prepare('SELECT * FROM account ORDER BY did LIMIT ?').all(limit)
    ) as AccountRow[]
    return rows.map(fromRow)
  }

  private remember(acc: AccountState): void {
    this.cache.set(acc.did, acc)
    if (this.cache.size <= MAX_CACHED) return
    for (const [did] of this.cache) {
      if (this.cache.size <= MAX_CACHED * 0.9) break
      if (!this.dirty.has(did)) this.cache.delete(did)
    }
  }
}
