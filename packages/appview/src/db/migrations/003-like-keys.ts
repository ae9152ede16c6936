import { sql, type Kysely } from 'kysely'

// Likes and reposts are keyed by (creator, rkey) instead of their URI, and
// `uri` becomes a column computed from those two (never stored). Every index
// entry of a WITHOUT ROWID table carries its primary key: the ~70-byte URI was
// most of each entry of the subject and pair indexes. Keyed by the record key,
// those entries carry ~14 bytes (the creator is already in the pair index), the
// rows lose the URI, and the pages a batch dirties hold more of them.
// Measured on a like table alone (random likes as `bench:appview` makes them,
// batches of 60,000, 8 KiB pages): the log written per like at 3 M likes went
// from 9.08 to 7.69 KiB (HACKING.md, Storage).
//
// The pair index keeps `sortAt` after the subject id: the "first of its pair"
// probe (data/graph.ts `firstOfPair`) then reads it from the pair index alone;
// without it SQLite prefers walking the subject's whole range.
//
// SQLite computes a VIRTUAL generated column when read; PostgreSQL before 18
// has only STORED ones, which a PostgreSQL dialect would use (or compute the
// URI in its queries).

const COLLECTION = { like: 'app.bsky.feed.like', repost: 'app.bsky.feed.repost' } as const

export async function up(db: Kysely<unknown>): Promise<void> {
  // one transaction: a crash part-way leaves the file as it was, and the next start runs this again
  await db.transaction().execute(async (trx) => {
    for (const table of ['like', 'repost'] as const) await rekey(trx, table)
  })
}

async function rekey(db: Kysely<unknown>, table: 'like' | 'repost'): Promise<void> {
  const next = `${table}_by_key`
  await db.schema
    .createTable(next)
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
    .addPrimaryKeyConstraint(`${table}_pkey`, ['creator', 'rkey'])
    .modifyEnd(sql`WITHOUT ROWID`)
    .execute()
  // a row's URI is at://<creator>/<collection>/<rkey> (the indexer builds it so); the rkey is what follows
  const prefixLength = sql`length('at://' || ${sql.ref('creator')} || ${`/${COLLECTION[table]}/`})`
  await sql`INSERT INTO ${sql.table(next)} (creator, rkey, cid, subject, ${sql.ref('subjectId')}, ${sql.ref('subjectCid')}, json, ${sql.ref('createdAt')}, ${sql.ref('indexedAt')}, ${sql.ref('sortAt')})
    SELECT creator, substr(uri, ${prefixLength} + 1), cid, subject, ${sql.ref('subjectId')}, ${sql.ref('subjectCid')}, json, ${sql.ref('createdAt')}, ${sql.ref('indexedAt')}, ${sql.ref('sortAt')}
    FROM ${sql.table(table)} ORDER BY creator, uri`.execute(db)
  await db.schema.dropTable(table).execute()
  await sql`ALTER TABLE ${sql.table(next)} RENAME TO ${sql.table(table)}`.execute(db)
  // getLikes / getRepostedBy: a subject's likes, newest first
  await db.schema.createIndex(`${table}_subject_idx`).on(table).columns(['subjectId', 'sortAt']).execute()
  // viewer state (my like of each post), duplicate detection, first of its pair (one probe)
  await db.schema.createIndex(`${table}_pair_idx`).on(table).columns(['creator', 'subjectId', 'sortAt']).execute()
}
