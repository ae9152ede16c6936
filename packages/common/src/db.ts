import Database from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { Migrator, type Migration } from 'kysely/migration'

export type SqliteHandle = Database.Database

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

  constructor(location: string) {
    this.location = location
    this.sqlite = new Database(location)
    this.sqlite.pragma('journal_mode = WAL')
    this.sqlite.pragma('synchronous = NORMAL')
    this.sqlite.pragma('foreign_keys = ON')
    this.sqlite.pragma('busy_timeout = 5000')
    this.kysely = new Kysely<Schema>({
      dialect: new SqliteDialect({ database: this.sqlite }),
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
