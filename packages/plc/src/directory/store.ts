import type BetterSqlite from 'better-sqlite3'
import { sql, type Compilable } from 'kysely'
import type { CompatibleOpOrTombstone } from '@did-plc/lib'
import type { PlcDb } from '../db/index.ts'
import type { OperationTable } from '../db/schema/operation.ts'
import { ConflictError } from './errors.ts'

export type StoredOp = {
  seq: number
  did: string
  cid: string
  operation: CompatibleOpOrTombstone
  nullified: boolean
  /** ISO 8601, milliseconds, UTC. */
  createdAt: string
}

export type AppendInput = {
  did: string
  cid: string
  operation: CompatibleOpOrTombstone
  /** CIDs of this DID's active ops that the new op forks away from. */
  nullify: string[]
  /** seq of the DID's last active op when validation read the log; null for a genesis op. */
  expectedHeadSeq: number | null
  now: Date
}

const toStored = (row: OperationTable): StoredOp => ({
  seq: row.seq,
  did: row.did,
  cid: row.cid,
  operation: JSON.parse(row.operation) as CompatibleOpOrTombstone,
  nullified: row.nullified !== 0,
  createdAt: row.created_at,
})

/**
 * All SQL of the directory. Reads go through Kysely; `append` is one
 * synchronous IMMEDIATE transaction on the raw handle (queries still built
 * with Kysely, so they stay portable), which makes the head check and the
 * insert atomic even against another process on the same file.
 */
export class OperationStore {
  private readonly db: PlcDb
  private readonly statements = new Map<string, BetterSqlite.Statement<unknown[]>>()

  constructor(db: PlcDb) {
    this.db = db
  }

  /** Non-nullified ops of a DID, oldest first (what validation and GET /:did/log see). */
  async activeLog(did: string): Promise<StoredOp[]> {
    const rows = await this.db.kysely
      .selectFrom('operation')
      .selectAll()
      .where('did', '=', did)
      .where('nullified', '=', 0)
      .orderBy('seq', 'asc')
      .execute()
    return rows.map(toStored)
  }

  /** Every op of a DID, nullified ones included, in acceptance order. */
  async auditLog(did: string): Promise<StoredOp[]> {
    const rows = await this.db.kysely
      .selectFrom('operation')
      .selectAll()
      .where('did', '=', did)
      .orderBy('seq', 'asc')
      .execute()
    return rows.map(toStored)
  }

  async lastActive(did: string): Promise<StoredOp | undefined> {
    const row = await this.db.kysely
      .selectFrom('operation')
      .selectAll()
      .where('did', '=', did)
      .where('nullified', '=', 0)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst()
    return row ? toStored(row) : undefined
  }

  /** Ops of every DID created strictly after `after`, oldest first. */
  async exportPage(after: string | undefined, count: number): Promise<StoredOp[]> {
    let query = this.db.kysely.selectFrom('operation').selectAll().orderBy('created_at', 'asc').limit(count)
    if (after !== undefined) query = query.where('created_at', '>', after)
    const rows = await query.execute()
    return rows.map(toStored)
  }

  async healthCheck(): Promise<void> {
    await sql`select 1`.execute(this.db.kysely)
  }

  /**
   * Appends a validated op and marks the ops it forks away from as nullified.
   * Always checks, inside the transaction, that the DID's active head is still
   * `expectedHeadSeq` (throws ConflictError otherwise). Assigns `seq` (max + 1)
   * and `createdAt` = max(now, previous createdAt + 1 ms), so both are strictly
   * increasing across the whole directory and `/export?after=` never skips an op.
   * Never validates the op itself.
   */
  append(input: AppendInput): StoredOp {
    const { did, cid, operation, nullify, expectedHeadSeq, now } = input
    const k = this.db.kysely
    return this.db.transaction(() => {
      const head = this.first<{ seq: number }>(
        k
          .selectFrom('operation')
          .select('seq')
          .where('did', '=', did)
          .where('nullified', '=', 0)
          .orderBy('seq', 'desc')
          .limit(1),
      )
      if ((head?.seq ?? null) !== expectedHeadSeq) throw new ConflictError(did)

      const last = this.first<{ seq: number; created_at: string }>(
        k.selectFrom('operation').select(['seq', 'created_at']).orderBy('seq', 'desc').limit(1),
      )
      const seq = (last?.seq ?? 0) + 1
      const floor = last ? Date.parse(last.created_at) + 1 : 0
      const createdAt = new Date(Math.max(now.getTime(), floor)).toISOString()

      if (nullify.length > 0) {
        this.run(
          k
            .updateTable('operation')
            .set({ nullified: 1 })
            .where('did', '=', did)
            .where('cid', 'in', nullify),
        )
      }
      const row: OperationTable = {
        seq,
        did,
        cid,
        operation: JSON.stringify(operation),
        nullified: 0,
        created_at: createdAt,
      }
      this.run(k.insertInto('operation').values(row))
      return toStored(row)
    })
  }

  private prepared(query: Compilable<unknown>) {
    const compiled = query.compile()
    let stmt = this.statements.get(compiled.sql)
    if (!stmt) {
      stmt = this.db.sqlite.prepare<unknown[]>(compiled.sql)
      this.statements.set(compiled.sql, stmt)
    }
    return { stmt, params: compiled.parameters as unknown[] }
  }

  private first<R>(query: Compilable<unknown>): R | undefined {
    const { stmt, params } = this.prepared(query)
    return stmt.get(...params) as R | undefined
  }

  private run(query: Compilable<unknown>): void {
    const { stmt, params } = this.prepared(query)
    stmt.run(...params)
  }
}
