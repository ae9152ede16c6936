import { sql, type Kysely } from 'kysely'

// Follows and blocks as likes and reposts are since migration 004: rowid
// tables (`id INTEGER PRIMARY KEY`, given in indexing order, so a batch's new
// rows append at the table's end), unique by (creator, rkey), `uri` a
// VIRTUAL column computed from those two. Keyed by their ~70-byte URI, every
// entry of their three indexes carried it; now each carries the id.
// Measured on the follow table alone (follows drawn as `bench:appview` draws
// them, batches of ~24,300, 8 KiB pages, HACKING.md): 63,428 log frames a
// batch at 1.9 M follows keyed by URI, 41,948 as a rowid table with the five
// B-trees below.
//
// getFollows, getFollowers and getBlocks page by (sortAt, id); their cursors
// name the id.

const COLLECTION = { follow: 'app.bsky.graph.follow', block: 'app.bsky.graph.block' } as const

/** Each table's indexes after the key: name and columns (each entry also carries the id). */
const INDEXES = {
  follow: [
    // getFollows (newest first), the timeline's followee list
    ['follow_creator_idx', ['creator', 'sortAt']],
    // viewer following, duplicate detection, first of its pair (one probe)
    ['follow_pair_idx', ['creator', 'subject', 'sortAt']],
    // getFollowers (newest first), viewer followedBy
    ['follow_subject_idx', ['subject', 'sortAt']],
  ],
  block: [
    // blocking (viewer → author), first of its pair
    ['block_pair_idx', ['creator', 'subject', 'sortAt']],
    // getBlocks
    ['block_creator_sort_idx', ['creator', 'sortAt']],
    // blockedBy (author → viewer)
    ['block_subject_idx', ['subject', 'creator']],
  ],
} as const

export async function up(db: Kysely<unknown>): Promise<void> {
  // one transaction: a crash part-way leaves the file as it was, and the next start runs this again
  await db.transaction().execute(async (trx) => {
    for (const table of ['follow', 'block'] as const) await toRowid(trx, table)
  })
}

async function toRowid(db: Kysely<unknown>, table: 'follow' | 'block'): Promise<void> {
  const next = `${table}_by_id`
  await db.schema
    .createTable(next)
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('creator', 'varchar', (c) => c.notNull())
    .addColumn('rkey', 'varchar', (c) => c.notNull())
    .addColumn('cid', 'varchar', (c) => c.notNull())
    .addColumn('subject', 'varchar', (c) => c.notNull())
    .addColumn('json', 'text', (c) => c.notNull())
    .addColumn('createdAt', 'varchar', (c) => c.notNull())
    .addColumn('indexedAt', 'varchar', (c) => c.notNull())
    .addColumn('sortAt', 'varchar', (c) => c.notNull())
    .addColumn('uri', 'varchar', (c) => c.generatedAlwaysAs(sql`'at://' || creator || ${sql.lit(`/${COLLECTION[table]}/`)} || rkey`))
    .execute()
  // a row's URI is at://<creator>/<collection>/<rkey> (the indexer builds it so); the rkey is what follows.
  // Ids in the order the rows were indexed, as they are given from here on.
  const prefixLength = sql`length('at://' || ${sql.ref('creator')} || ${`/${COLLECTION[table]}/`})`
  await sql`INSERT INTO ${sql.table(next)} (creator, rkey, cid, subject, json, ${sql.ref('createdAt')}, ${sql.ref('indexedAt')}, ${sql.ref('sortAt')})
    SELECT creator, substr(uri, ${prefixLength} + 1), cid, subject, json, ${sql.ref('createdAt')}, ${sql.ref('indexedAt')}, ${sql.ref('sortAt')}
    FROM ${sql.table(table)} ORDER BY ${sql.ref('indexedAt')}, uri`.execute(db)
  await db.schema.dropTable(table).execute()
  await sql`ALTER TABLE ${sql.table(next)} RENAME TO ${sql.table(table)}`.execute(db)
  // a record by its URI (deletes, notifications, resync diffs)
  await db.schema.createIndex(`${table}_key_idx`).on(table).columns(['creator', 'rkey']).unique().execute()
  for (const [name, columns] of INDEXES[table]) await db.schema.createIndex(name).on(table).columns([...columns]).execute()
}
