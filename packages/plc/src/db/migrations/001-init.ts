import type { Kysely } from 'kysely'

// Only types and statements that Postgres accepts too: integer/varchar/text,
// no autoincrement (the writer assigns seq), no sqlite-only pragmas.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('operation')
    .addColumn('seq', 'integer', (col) => col.primaryKey())
    .addColumn('did', 'varchar', (col) => col.notNull())
    .addColumn('cid', 'varchar', (col) => col.notNull())
    .addColumn('operation', 'text', (col) => col.notNull())
    .addColumn('nullified', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('created_at', 'varchar', (col) => col.notNull())
    .execute()
  // serves: a DID's log in order (GET /:did/log*, validation of a new op)
  await db.schema.createIndex('operation_did_seq_idx').on('operation').columns(['did', 'seq']).execute()
  // serves: the idempotent re-post check; also enforces one row per operation
  await db.schema.createIndex('operation_cid_idx').on('operation').column('cid').unique().execute()
  // serves: GET /export?after=<createdAt>
  await db.schema.createIndex('operation_created_at_idx').on('operation').column('created_at').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('operation').execute()
}
