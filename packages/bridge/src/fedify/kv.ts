import type { KvKey, KvStore, KvStoreSetOptions } from '@fedify/fedify'
import type { BridgeDb } from '../db/index.ts'

const keyOf = (key: KvKey): string => JSON.stringify(key)
const ttlMs = (options?: KvStoreSetOptions): number | null => (options?.ttl ? options.ttl.total({ unit: 'millisecond' }) : null)

/**
 * Fedify's key–value store (remote documents it cached, inbox idempotence,
 * follower-collection digests) in the bridge's SQLite file, so it outlives
 * a restart: an activity already processed is still recognised after one.
 */
export class SqliteKvStore implements KvStore {
  private readonly db: BridgeDb

  constructor(db: BridgeDb) {
    this.db = db
  }

  async get<T = unknown>(key: KvKey): Promise<T | undefined> {
    const row = await this.db.kysely.selectFrom('kv').select(['value', 'expiresAt']).where('key', '=', keyOf(key)).executeTakeFirst()
    if (!row) return undefined
    if (row.expiresAt !== null && row.expiresAt <= Date.now()) {
      await this.delete(key)
      return undefined
    }
    return JSON.parse(row.value) as T
  }

  async set(key: KvKey, value: unknown, options?: KvStoreSetOptions): Promise<void> {
    const ttl = ttlMs(options)
    const row = { key: keyOf(key), value: JSON.stringify(value), expiresAt: ttl === null ? null : Date.now() + ttl }
    await this.db.kysely
      .insertInto('kv')
      .values(row)
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: row.value, expiresAt: row.expiresAt }))
      .execute()
  }

  async delete(key: KvKey): Promise<void> {
    await this.db.kysely.deleteFrom('kv').where('key', '=', keyOf(key)).execute()
  }

  /** Compare-and-swap in one SQLite transaction. */
  cas = async (key: KvKey, expectedValue: unknown, newValue: unknown, options?: KvStoreSetOptions): Promise<boolean> => {
    const k = keyOf(key)
    const ttl = ttlMs(options)
    return this.db.transaction(() => {
      const row = this.db.sqlite.prepare('SELECT value, expiresAt FROM kv WHERE key = ?').get(k) as { value: string; expiresAt: number | null } | undefined
      const live = row && (row.expiresAt === null || row.expiresAt > Date.now()) ? JSON.parse(row.value) : undefined
      if (JSON.stringify(live) !== JSON.stringify(expectedValue)) return false
      this.db.sqlite
        .prepare('INSERT INTO kv (key, value, expiresAt) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expiresAt = excluded.expiresAt')
        .run(k, JSON.stringify(newValue), ttl === null ? null : Date.now() + ttl)
      return true
    })
  }

  /** Drops expired entries (called now and then). */
  sweep(): void {
    this.db.sqlite.prepare('DELETE FROM kv WHERE expiresAt IS NOT NULL AND expiresAt <= ?').run(Date.now())
  }
}
