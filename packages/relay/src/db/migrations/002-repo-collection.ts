import type { Kysely } from 'kysely'

export async function up(db: Kysely<unknown>): Promise<void> {
  // listReposByCollection: which accounts have records in a collection
  await db.schema
    .createTable('repo_collection')
    .addColumn('collection', 'varchar', (col) => col.notNull())
    .addColumn('did', 'varchar', (col) => col.notNull())
    .addPrimaryKeyConstraint('repo_collection_pkey', ['collection', 'did'])
    .execute()
  // replacing or removing one account's collections
  await db.schema.createIndex('repo_collection_did_idx').on('repo_collection').column('did').execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('repo_collection').execute()
}
