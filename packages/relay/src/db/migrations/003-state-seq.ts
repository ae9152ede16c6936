import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // the event-log seq that account state, collections and host cursors were last persisted with
  await db.schema
    .createTable('relay_state')
    .addColumn('id', 'integer', (col) => col.primaryKey())
    .addColumn('logSeq', 'bigint', (col) => col.notNull())
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('relay_state').execute()
}
