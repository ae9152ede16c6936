import { sql, type Kysely } from 'kysely'

// Likes, reposts, follows and blocks become rowid tables: `id INTEGER PRIMARY
// KEY`, given in the order rows are indexed, so a batch's new rows append at
// the table's end instead of landing in each creator's key range (likes,
// reposts) or at their URI's place (follows, blocks) all over it. Each is
// unique by (creator, rkey) through an index of its own, `uri` is a VIRTUAL
// column computed from those two (follows and blocks get `rkey` here; likes
// and reposts have had it since migration 003), and every other index entry
// carries the id instead of (creator, rkey) or the ~70-byte URI.
//
// Why: a batch writes every page it dirties to the log once, and splitting a
// full page inside a tree rewrites its neighbours too. Measured on each table
// alone (records drawn as `bench:appview` draws them, a batch what 100,000
// events hold, 8 KiB pages, HACKING.md), log frames a batch:
// - likes at 3 M (60,500 a batch): 78,327 keyed by (creator, rkey), 48,925 here;
// - follows at 1.9 M (24,400 a batch): 63,428 keyed by URI, 41,948 here.
//
// Records of one pair with the same sortAt are ordered by id; getLikes,
// getRepostedBy, getFollows, getFollowers and getBlocks page by (sortAt, id),
// and their cursors name the id.

type Table = 'like' | 'repost' | 'follow' | 'block'

const COLLECTION: Record<Table, string> = {
  like: 'app.bsky.feed.like',
  repost: 'app.bsky.feed.repost',
  follow: 'app.bsky.graph.follow',
  block: 'app.bsky.graph.block',
}

/** Each table's indexes after the key: name and columns (each entry also carries the id). */
const INDEXES: Record<Table, [string, string[]][]> = {
  like: [
    // getLikes: a subject's likes, newest first
    ['like_subject_idx', ['subjectId', 'sortAt']],
    // viewer state (my like of each post), duplicate detection, first of its pair (one probe)
    ['like_pair_idx', ['creator', 'subjectId', 'sortAt']],
  ],
  repost: [
    ['repost_subject_idx', ['subjectId', 'sortAt']],
    ['repost_pair_idx', ['creator', 'subjectId', 'sortAt']],
  ],
  follow: [
    // getFollows (newest first), the timeline's followee list
    ['follow_creator_idx', ['creator', 'sortAt']],
    // viewer following, duplicate detection, first of its pair
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
}

export async function up(db: Kysely<unknown>): Promise<void> {
  // one transaction: a crash part-way leaves the file as it was, and the next start runs this again
  await db.transaction().execute(async (trx) => {
    for (const table of ['like', 'repost', 'follow', 'block'] as const) await toRowid(trx, table)
  })
}

async function toRowid(db: Kysely<unknown>, table: Table): Promise<void> {
  const bySubjectId = table === 'like' || table === 'repost'
  const next = `${table}_by_id`
  let create = db.schema
    .createTable(next)
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('creator', 'varchar', (c) => c.notNull())
    .addColumn('rkey', 'varchar', (c) => c.notNull())
    .addColumn('cid', 'varchar', (c) => c.notNull())
    .addColumn('subject', 'varchar', (c) => c.notNull())
  if (bySubjectId) create = create.addColumn('subjectId', 'integer', (c) => c.notNull()).addColumn('subjectCid', 'varchar', (c) => c.notNull())
  await create
    .addColumn('json', 'text', (c) => c.notNull())
    .addColumn('createdAt', 'varchar', (c) => c.notNull())
    .addColumn('indexedAt', 'varchar', (c) => c.notNull())
    .addColumn('sortAt', 'varchar', (c) => c.notNull())
    .addColumn('uri', 'varchar', (c) => c.generatedAlwaysAs(sql`'at://' || creator || ${sql.lit(`/${COLLECTION[table]}/`)} || rkey`))
    .execute()
  const columns = ['creator', 'rkey', 'cid', 'subject', ...(bySubjectId ? ['subjectId', 'subjectCid'] : []), 'json', 'createdAt', 'indexedAt', 'sortAt']
  // follows and blocks: a row's URI is at://<creator>/<collection>/<rkey> (the indexer builds it so)
  const rkey = bySubjectId ? sql.ref('rkey') : sql`substr(uri, length('at://' || creator || ${`/${COLLECTION[table]}/`}) + 1)`
  const selected = columns.map((c) => (c === 'rkey' ? rkey : sql.ref(c)))
  // ids in the order the rows were indexed, as they are given from here on
  await sql`INSERT INTO ${sql.table(next)} (${sql.join(columns.map((c) => sql.ref(c)))})
    SELECT ${sql.join(selected)} FROM ${sql.table(table)} ORDER BY ${sql.ref('indexedAt')}, creator, ${rkey}`.execute(db)
  await db.schema.dropTable(table).execute()
  await sql`ALTER TABLE ${sql.table(next)} RENAME TO ${sql.table(table)}`.execute(db)
  // a record by its URI (deletes, notifications, resync diffs, getActorLikes: a creator's likes by record key)
  await db.schema.createIndex(`${table}_key_idx`).on(table).columns(['creator', 'rkey']).unique().execute()
  for (const [name, cols] of INDEXES[table]) await db.schema.createIndex(name).on(table).columns(cols).execute()
}
