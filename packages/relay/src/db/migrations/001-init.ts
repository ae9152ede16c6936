import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('host')
    .addColumn('hostname', 'varchar', (col) => col.primaryKey())
    .addColumn('banned', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('cursor', 'bigint', (col) => col.notNull().defaultTo(0))
    .addColumn('rateLimit', 'integer')
    .addColumn('counters', 'text')
    .addColumn('createdAt', 'varchar', (col) => col.notNull())
    .execute()

  await db.schema
    .createTable('account')
    .addColumn('did', 'varchar', (col) => col.primaryKey())
    .addColumn('host', 'varchar', (col) => col.notNull())
    .addColumn('head', 'varchar')
    .addColumn('rev', 'varchar')
    .addColumn('data', 'varchar')
    .addColumn('active', 'integer', (col) => col.notNull().defaultTo(1))
    .addColumn('status', 'varchar')
    .addColumn('desynchronized', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('updatedAt', 'varchar', (col) => col.notNull())
    .execute()
  // accountCount per host (listHosts, getHostStatus) at start
  await db.schema.createIndex('account_host_idx').on('account').column('host').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('account').execute()
  await db.schema.dropTable('host').execute()
}
