import Database from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { Migrator, type Migration } from 'kysely/migration'

export type SqliteHandle = Database.Database

type TxStatements = { begin: Database.Statement; commit: Database.Statement; rollback: Database.Statement }
/** each connection's BEGIN IMMEDIATE / COMMIT / ROLLBACK, prepared at its first transaction here */
const txStatements = new WeakMap<SqliteHandle, TxStatements>()

/**
 * fn in one IMMEDIATE transaction, through prepared BEGIN/COMMIT: what
 * better-sqlite3's `transaction(fn).immediate()` runs, without building its
 * wrapper on every call (~10 µs, on paths that run once per repo commit or
 * event append). Inside a transaction of the connection's, that wrapper's
 * savepoint. A failure rolls back (unless SQLite already did, e.g. on a full
 * disk) and is thrown on.
 */
export const immediateTransaction = <T>(db: SqliteHandle, fn: () => T): T => {
  if (db.inTransaction) return db.transaction(fn)()
  let tx = txStatements.get(db)
  if (!tx) {
    tx = { begin: db.prepare('BEGIN IMMEDIATE'), commit: db.prepare('COMMIT'), rollback: db.prepare('ROLLBACK') }
    txStatements.set(db, tx)
  }
  tx.begin.run()
  try {
    const out = fn()
    tx.commit.run()
    return out
  } catch (err) {
    if (db.inTransaction) tx.rollback.run()
    throw err
  }
}

/** Prepared statements kept per SQL text (least recently used out). */
const STATEMENT_CACHE_SIZE = 500

/**
 * The handle Kysely gets: `prepare` answers from a cache of prepared
 * statements. Kysely prepares every query it runs, and preparing costs as
 * much as running a small indexed query (a hydration step is a handful of
 * them); a better-sqlite3 statement can be run again and again. Safe because
 * nothing here streams a Kysely query (a statement busy iterating could not
 * be reused) and SQLite re-prepares a statement after a schema change by
 * itself.
 */
const statementCache = (sqlite: SqliteHandle) => {
  const stmts = new Map<string, Database.Statement>()
  return {
    close: () => sqlite.close(),
    prepare: (sql: string): Database.Statement => {
      let stmt = stmts.get(sql)
      if (stmt) {
        stmts.delete(sql)
      } else {
        stmt = sqlite.prepare(sql)
        if (stmts.size >= STATEMENT_CACHE_SIZE) stmts.delete(stmts.keys().next().value!)
      }
      stmts.set(sql, stmt)
      return stmt
    },
  }
}

/**
 * A SQLite database file opened the way every service here wants it: WAL,
 * synchronous=NORMAL (a committed transaction survives a process crash; only
 * an OS crash can lose the last few), foreign keys on, a busy timeout.
 *
 * `sqlite` is the raw handle for synchronous hot paths (a repo commit is one
 * synchronous transaction); `kysely` is for everything else.
 */
export class Db<Schema> {
  readonly sqlite: SqliteHandle
  readonly kysely: Kysely<Schema>
  readonly location: string
  private closed = false

  /**
   * `pageSize` (bytes, a power of two from 512 to 65536) applies to a file
   * this creates; an existing file keeps the page size it was made with
   * (changing it needs a VACUUM outside WAL mode).
   */
  constructor(location: string, opts: { pageSize?: number } = {}) {
    this.location = location
    this.sqlite = new Database(location)
    // before WAL mode, whose header write creates the file
    if (opts.pageSize !== undefined) this.sqlite.pragma(`page_size = ${opts.pageSize}`)
    this.sqlite.pragma('journal_mode = WAL')
    this.sqlite.pragma('synchronous = NORMAL')
    this.sqlite.pragma('foreign_keys = ON')
    this.sqlite.pragma('busy_timeout = 5000')
    this.kysely = new Kysely<Schema>({
      dialect: new SqliteDialect({ database: statementCache(this.sqlite) }),
    })
  }

  /** Runs fn inside one synchronous SQLite transaction (IMMEDIATE). */
  transaction<T>(fn: () => T): T {
    return this.sqlite.transaction(fn).immediate()
  }

  async migrateToLatest(migrations: Record<string, Migration>): Promise<void> {
    const migrator = new Migrator({
      db: this.kysely,
      provider: { getMigrations: async () => migrations },
    })
    const { error, results } = await migrator.migrateToLatest()
    if (error) {
      const failed = results?.find((r: { status: string }) => r.status === 'Error')
      throw new Error(
        `migration ${failed?.migrationName ?? '?'} failed on ${this.location}: ${String(error)}`,
        { cause: error },
      )
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.kysely.destroy() // closes the sqlite handle too
  }

  get isClosed(): boolean {
    return this.closed
  }
}
