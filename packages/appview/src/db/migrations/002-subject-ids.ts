import { sql, type Kysely } from 'kysely'

// Likes and reposts point at their subject by a small integer, `record_agg.id`,
// instead of its URI, in the two indexes they write per event (subject, and
// creator + subject). The bytes an event writes are what limits indexing on a
// large index (HACKING.md, Storage): keyed by a ~70-byte URI that starts with
// the author's DID, each like landed on a random page of both indexes; keyed by
// an id given in the order subjects are first seen, a like of a recent post
// lands on the last pages of the subject index and on the last pages of its
// liker's range of the pair index, pages the batch is writing anyway. The count
// bumps go to `record_agg` by that id too, so they land there as well.
//
// `record_agg.id` is given when a record is first liked, reposted, replied to
// or quoted (the row may precede the record), and a row is never deleted, so
// an id always names the same URI.

const PAIR_TABLES = ['like', 'repost'] as const

export async function up(db: Kysely<unknown>): Promise<void> {
  // one transaction: a crash part-way leaves the file as it was, and the next start runs this again
  await db.transaction().execute((trx) => upInTransaction(trx))
}

async function upInTransaction(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE record_agg RENAME TO record_agg_before_ids`.execute(db)
  await db.schema
    .createTable('record_agg')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('uri', 'varchar', (c) => c.notNull().unique())
    .addColumn('likeCount', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('repostCount', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('replyCount', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('quoteCount', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  await sql`INSERT INTO record_agg (uri, likeCount, repostCount, replyCount, quoteCount)
    SELECT uri, likeCount, repostCount, replyCount, quoteCount FROM record_agg_before_ids ORDER BY uri`.execute(db)
  await db.schema.dropTable('record_agg_before_ids').execute()

  for (const table of PAIR_TABLES) {
    // a duplicate's subject has a row already (its pair's first record counted), but a file is not trusted to
    await sql`INSERT INTO record_agg (uri) SELECT DISTINCT subject FROM ${sql.table(table)} WHERE true ON CONFLICT (uri) DO NOTHING`.execute(db)
    await db.schema.alterTable(table).addColumn('subjectId', 'integer', (c) => c.notNull().defaultTo(0)).execute()
    await sql`UPDATE ${sql.table(table)} SET ${sql.ref('subjectId')} = (SELECT id FROM record_agg WHERE record_agg.uri = ${sql.ref(`${table}.subject`)})`.execute(db)
    await db.schema.dropIndex(`${table}_subject_idx`).execute()
    await db.schema.dropIndex(`${table}_pair_idx`).execute()
    // getLikes / getRepostedBy: a subject's likes, newest first
    await db.schema.createIndex(`${table}_subject_idx`).on(table).columns(['subjectId', 'sortAt', 'uri']).execute()
    // viewer state (my like of each post), duplicate detection, first of its pair (one probe)
    await db.schema.createIndex(`${table}_pair_idx`).on(table).columns(['creator', 'subjectId', 'sortAt', 'uri']).execute()
  }
}
