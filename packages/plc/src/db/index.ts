import Database from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { Migrator, type Migration } from 'kysely/migration'
import { migrations } from './migrations/index.ts'
import type { PlcSchema } from './schema/index.ts'

export type { PlcSchema }

/**
 * The directory's SQLite database: same contract and pragmas as
 * @atsuite/common's `Db` (WAL, synchronous=NORMAL, foreign keys, busy
 * timeout; `sqlite` for synchronous transactions, `kysely` for the rest).
 *
 * Why not `Db` itself: common is on better-sqlite3 12, whose statements are
 * node::ObjectWrap objects; on Node 24.2x, a statement collected by an
 * idle-time GC aborts the process (`Assertion failed: (env) != nullptr` in
 * RemoveEnvironmentCleanupHook). better-sqlite3 13 (node-addon-api) does not.
 * Once common moves to 13, replace this class with `Db<PlcSchema>`.
 */
export class PlcDb {
  readonly sqlite: Database.Database
  readonly kysely: Kysely<PlcSchema>
  readonly location: string
  private closed = false

  constructor(location: string) {
    this.location = location
    this.sqlite = new Database(location)
    this.sqlite.pragma('journal_mode = WAL')
    this.sqlite.pragma('synchronous = NORMAL')
    this.sqlite.pragma('foreign_keys = ON')
    this.sqlite.pragma('busy_timeout = 5000')
    this.kysely = new Kysely<PlcSchema>({ dialect: new SqliteDialect({ database: this.sqlite }) })
  }

  /** Opens the database and brings its schema up to date. */
  static async open(location: string): Promise<PlcDb> {
    const db = new PlcDb(location)
    try {
      await db.migrateToLatest(migrations)
    } catch (err) {
      await db.close()
      throw err
    }
    return db
  }

  /** Runs fn inside one synchronous SQLite transaction (IMMEDIATE). */
  transaction<T>(fn: () => T): T {
    return this.sqlite.transaction(fn).immediate()
  }

  async migrateToLatest(all: Record<string, Migration>): Promise<void> {
    const migrator = new Migrator({ db: this.kysely, provider: { getMigrations: async () => all } })
    const { error, results } = await migrator.migrateToLatest()
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')
      throw new Error(`migration ${failed?.migrationName ?? '?'} failed on ${this.location}: ${String(error)}`, {
        cause: error,
      })
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
