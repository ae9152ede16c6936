import { sql, type Kysely } from 'kysely'

// Likes and reposts become rowid tables: `id INTEGER PRIMARY KEY`, given in
// the order rows are indexed, so a batch's new rows append at the table's end
// instead of landing in each creator's key range all over it. (creator, rkey)
// stays unique through an index of its own, and the subject and pair indexes
// carry the id instead of (creator, rkey).
//
// Why: a batch writes every page it dirties to the log once. Keyed by
// (creator, rkey), a batch of ~60,000 likes by a few thousand likers dirtied a
// page of the table per liker, and splitting a full page inside the tree
// rewrites its neighbours too. Measured on the like table alone (likes drawn
// as `bench:appview` draws them, batches of 60,500, 8 KiB pages, HACKING.md):
// 78,327 log frames a batch at 3 M likes keyed by (creator, rkey), 48,925 as
// a rowid table with the four B-trees below.
//
// Pages of getLikes / getRepostedBy are ordered by (sortAt, id), and their
// cursors name the id.

const COLLECTION = { like: 'app.bsky.feed.like', repost: 'app.bsky.feed.repost' } as const

export async function up(db: Kysely<unknown>): Promise<void> {
  // one transaction: a crash part-way leaves the file as it was, and the next start runs this again
  await db.transaction().execute(async (trx) => {
    for (const table of ['like', 'repost'] as const) await toRowid(trx, table)
  })
}

async function toRowid(db: Kysely<unknown>, table: 'like' | 'repost'): Promise<void> {
  const next = `${table}_by_id`
  await db.schema
    .createTable(next)
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('creator', 'varchar', (c) => c.notNull())
    .addColumn('rkey', 'varchar', (c) => c.notNull())
    .addColumn('cid', 'varchar', (c) => c.notNull())
    .addColumn('subject', 'varchar', (c) => c.notNull())
    .addColumn('subjectId', 'integer', (c) => c.notNull())
    .addColumn('subjectCid', 'varchar', (c) => c.notNull())
    .addColumn('json', 'text', (c) => c.notNull())
    .addColumn('createdAt', 'varchar', (c) => c.notNull())
    .addColumn('indexedAt', 'varchar', (c) => c.notNull())
    .addColumn('sortAt', 'varchar', (c) => c.notNull())
    .addColumn('uri', 'varchar', (c) => c.generatedAlwaysAs(sql`'at://' || creator || ${sql.lit(`/${COLLECTION[table]}/`)} || rkey`))
    .execute()
  // ids in the order the rows were indexed, as they are given from here on
  await sql`INSERT INTO ${sql.table(next)} (creator, rkey, cid, subject, ${sql.ref('subjectId')}, ${sql.ref('subjectCid')}, json, ${sql.ref('createdAt')}, ${sql.ref('indexedAt')}, ${sql.ref('sortAt')})
    SELECT creator, rkey, cid, subject, ${sql.ref('subjectId')}, ${sql.ref('subjectCid')}, json, ${sql.ref('createdAt')}, ${sql.ref('indexedAt')}, ${sql.ref('sortAt')}
    FROM ${sql.table(table)} ORDER BY ${sql.ref('indexedAt')}, creator, rkey`.execute(db)
  await db.schema.dropTable(table).execute()
  await sql`ALTER TABLE ${sql.table(next)} RENAME TO ${sql.table(table)}`.execute(db)
  // a record by its URI (deletes, notifications, getActorLikes: a creator's likes by record key)
  await db.schema.createIndex(`${table}_key_idx`).on(table).columns(['creator', 'rkey']).unique().execute()
  // getLikes / getRepostedBy: a subject's likes, newest first
  await db.schema.createIndex(`${table}_subject_idx`).on(table).columns(['subjectId', 'sortAt']).execute()
  // viewer state (my like of each post), duplicate detection, first of its pair (one probe)
  await db.schema.createIndex(`${table}_pair_idx`).on(table).columns(['creator', 'subjectId', 'sortAt']).execute()
}
