import { sql, type Kysely } from 'kysely'

// Written with the schema builder and SQL PostgreSQL also accepts, except
// what is marked SQLite: `WITHOUT ROWID` (tables keyed by a URI are stored in
// their primary-key B-tree: one B-tree to write per insert instead of two;
// PostgreSQL has no rowid, so it drops the clause) and the full-text tables
// (FTS5), which a PostgreSQL dialect replaces with tsvector indexes.
//
// Write cost shapes this schema: every index is a B-tree the indexer writes
// per event, so each one here names the read it serves.

/** SQLite: store the table in its primary-key B-tree. */
const withoutRowid = sql`WITHOUT ROWID`

const subjectTable = (db: Kysely<unknown>, name: string, withSubjectCid: boolean) => {
  let t = db.schema
    .createTable(name)
    .addColumn('uri', 'varchar', (c) => c.primaryKey())
    .addColumn('cid', 'varchar', (c) => c.notNull())
    .addColumn('creator', 'varchar', (c) => c.notNull())
    .addColumn('subject', 'varchar', (c) => c.notNull())
  if (withSubjectCid) t = t.addColumn('subjectCid', 'varchar', (c) => c.notNull())
  return t
    // the record as written (these are most of all records: kept here, not in `record`)
    .addColumn('json', 'text', (c) => c.notNull())
    .addColumn('createdAt', 'varchar', (c) => c.notNull())
    .addColumn('indexedAt', 'varchar', (c) => c.notNull())
    .addColumn('sortAt', 'varchar', (c) => c.notNull())
    .modifyEnd(withoutRowid)
    .execute()
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('actor')
    .addColumn('did', 'varchar', (c) => c.primaryKey())
    .addColumn('handle', 'varchar')
    .addColumn('pdsEndpoint', 'varchar')
    .addColumn('signingKey', 'varchar')
    .addColumn('status', 'varchar')
    .addColumn('rev', 'varchar')
    .addColumn('commitCid', 'varchar')
    .addColumn('dataCid', 'varchar')
    .addColumn('backfilledAt', 'varchar')
    .addColumn('identityRefreshedAt', 'varchar')
    .addColumn('indexedAt', 'varchar', (c) => c.notNull())
    .execute()
  // getProfile/resolve by handle
  await db.schema.createIndex('actor_handle_idx').on('actor').column('handle').execute()

  // keyed by URI, which starts with the DID: an account's records are one key range (resync diffs)
  await db.schema
    .createTable('record')
    .addColumn('uri', 'varchar', (c) => c.primaryKey())
    .addColumn('cid', 'varchar', (c) => c.notNull())
    .addColumn('json', 'text', (c) => c.notNull())
    .addColumn('refusal', 'varchar')
    .addColumn('indexedAt', 'varchar', (c) => c.notNull())
    .modifyEnd(withoutRowid)
    .execute()

  await db.schema
    .createTable('post')
    .addColumn('uri', 'varchar', (c) => c.primaryKey())
    .addColumn('cid', 'varchar', (c) => c.notNull())
    .addColumn('creator', 'varchar', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('createdAt', 'varchar', (c) => c.notNull())
    .addColumn('indexedAt', 'varchar', (c) => c.notNull())
    .addColumn('sortAt', 'varchar', (c) => c.notNull())
    .addColumn('replyRoot', 'varchar')
    .addColumn('replyRootCid', 'varchar')
    .addColumn('replyParent', 'varchar')
    .addColumn('replyParentCid', 'varchar')
    .addColumn('quoteUri', 'varchar')
    .addColumn('quoteCid', 'varchar')
    .addColumn('hasMedia', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('hasVideo', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('langs', 'varchar')
    .execute()
  // getPostThread: replies of a post
  await db.schema.createIndex('post_reply_parent_idx').on('post').columns(['replyParent', 'sortAt']).execute()
  // getQuotes: posts quoting a post, newest first
  await db.schema.createIndex('post_quote_idx').on('post').columns(['quoteUri', 'sortAt', 'uri']).execute()

  await db.schema
    .createTable('feed_item')
    .addColumn('uri', 'varchar', (c) => c.primaryKey())
    .addColumn('postUri', 'varchar', (c) => c.notNull())
    .addColumn('originator', 'varchar', (c) => c.notNull())
    .addColumn('type', 'varchar', (c) => c.notNull())
    .addColumn('isReply', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('sortAt', 'varchar', (c) => c.notNull())
    .modifyEnd(withoutRowid)
    .execute()
  // getTimeline / getAuthorFeed: an originator's items, newest first (keyset on sortAt, uri)
  await db.schema.createIndex('feed_item_originator_idx').on('feed_item').columns(['originator', 'sortAt', 'uri']).execute()
  // getTimeline for heavy followers: the newest items network-wide, filtered by the viewer's follows
  await db.schema.createIndex('feed_item_sort_idx').on('feed_item').columns(['sortAt', 'uri']).execute()

  await subjectTable(db, 'like', true)
  // getLikes: likes of a subject, newest first
  await db.schema.createIndex('like_subject_idx').on('like').columns(['subject', 'sortAt', 'uri']).execute()
  // viewer state (my like of each post), duplicate detection, "first of its pair" (one probe)
  await db.schema.createIndex('like_pair_idx').on('like').columns(['creator', 'subject', 'sortAt', 'uri']).execute()
  // (getActorLikes reads an actor's likes through the primary key: their URIs share the prefix
  // at://<did>/app.bsky.feed.like/ and sort by record key, a TID: no index written per like for it)

  await subjectTable(db, 'repost', true)
  // getRepostedBy
  await db.schema.createIndex('repost_subject_idx').on('repost').columns(['subject', 'sortAt', 'uri']).execute()
  // viewer state (my repost of each post), duplicate detection, first of its pair
  await db.schema.createIndex('repost_pair_idx').on('repost').columns(['creator', 'subject', 'sortAt', 'uri']).execute()

  await subjectTable(db, 'follow', false)
  // getFollows (newest first), the timeline's followee list, viewer following
  await db.schema.createIndex('follow_creator_idx').on('follow').columns(['creator', 'sortAt', 'uri']).execute()
  await db.schema.createIndex('follow_pair_idx').on('follow').columns(['creator', 'subject', 'sortAt', 'uri']).execute()
  // getFollowers (newest first), viewer followedBy
  await db.schema.createIndex('follow_subject_idx').on('follow').columns(['subject', 'sortAt', 'uri']).execute()

  await subjectTable(db, 'block', false)
  // blocking (viewer → author) and getBlocks
  await db.schema.createIndex('block_pair_idx').on('block').columns(['creator', 'subject', 'sortAt', 'uri']).execute()
  await db.schema.createIndex('block_creator_sort_idx').on('block').columns(['creator', 'sortAt', 'uri']).execute()
  // blockedBy (author → viewer)
  await db.schema.createIndex('block_subject_idx').on('block').columns(['subject', 'creator']).execute()

  await db.schema
    .createTable('list')
    .addColumn('uri', 'varchar', (c) => c.primaryKey())
    .addColumn('cid', 'varchar', (c) => c.notNull())
    .addColumn('creator', 'varchar', (c) => c.notNull())
    .addColumn('name', 'varchar', (c) => c.notNull())
    .addColumn('purpose', 'varchar', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('avatarCid', 'varchar')
    .addColumn('createdAt', 'varchar', (c) => c.notNull())
    .addColumn('indexedAt', 'varchar', (c) => c.notNull())
    .addColumn('sortAt', 'varchar', (c) => c.notNull())
    .execute()
  // getLists: an actor's lists, newest first
  await db.schema.createIndex('list_creator_idx').on('list').columns(['creator', 'sortAt', 'uri']).execute()

  await db.schema
    .createTable('list_item')
    .addColumn('uri', 'varchar', (c) => c.primaryKey())
    .addColumn('cid', 'varchar', (c) => c.notNull())
    .addColumn('creator', 'varchar', (c) => c.notNull())
    .addColumn('listUri', 'varchar', (c) => c.notNull())
    .addColumn('subject', 'varchar', (c) => c.notNull())
    .addColumn('json', 'text', (c) => c.notNull())
    .addColumn('createdAt', 'varchar', (c) => c.notNull())
    .addColumn('indexedAt', 'varchar', (c) => c.notNull())
    .addColumn('sortAt', 'varchar', (c) => c.notNull())
    .modifyEnd(withoutRowid)
    .execute()
  // getList: members, newest first; getListFeed: the members
  await db.schema.createIndex('list_item_list_idx').on('list_item').columns(['listUri', 'sortAt', 'uri']).execute()

  await db.schema
    .createTable('mute')
    .addColumn('muter', 'varchar', (c) => c.notNull())
    .addColumn('subject', 'varchar', (c) => c.notNull())
    .addColumn('createdAt', 'varchar', (c) => c.notNull())
    .addPrimaryKeyConstraint('mute_pkey', ['muter', 'subject'])
    .modifyEnd(withoutRowid)
    .execute()
  // getMutes: the viewer's mutes, newest first (keyset on createdAt, subject)
  await db.schema.createIndex('mute_muter_idx').on('mute').columns(['muter', 'createdAt', 'subject']).execute()

  await db.schema
    .createTable('feed_generator')
    .addColumn('uri', 'varchar', (c) => c.primaryKey())
    .addColumn('cid', 'varchar', (c) => c.notNull())
    .addColumn('creator', 'varchar', (c) => c.notNull())
    .addColumn('feedDid', 'varchar', (c) => c.notNull())
    .addColumn('displayName', 'varchar', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('avatarCid', 'varchar')
    .addColumn('createdAt', 'varchar', (c) => c.notNull())
    .addColumn('indexedAt', 'varchar', (c) => c.notNull())
    .addColumn('sortAt', 'varchar', (c) => c.notNull())
    .execute()
  // getActorFeeds, profile feedgen counts
  await db.schema.createIndex('feed_generator_creator_idx').on('feed_generator').columns(['creator', 'sortAt', 'uri']).execute()

  await db.schema
    .createTable('gate')
    .addColumn('postUri', 'varchar', (c) => c.notNull())
    .addColumn('kind', 'varchar', (c) => c.notNull())
    .addColumn('uri', 'varchar', (c) => c.notNull().unique())
    .addColumn('cid', 'varchar', (c) => c.notNull())
    .addColumn('creator', 'varchar', (c) => c.notNull())
    .addPrimaryKeyConstraint('gate_pkey', ['postUri', 'kind'])
    .modifyEnd(withoutRowid)
    .execute()

  await db.schema
    .createTable('profile')
    .addColumn('did', 'varchar', (c) => c.primaryKey())
    .addColumn('uri', 'varchar', (c) => c.notNull())
    .addColumn('cid', 'varchar', (c) => c.notNull())
    .addColumn('displayName', 'varchar')
    .addColumn('description', 'text')
    .addColumn('avatarCid', 'varchar')
    .addColumn('bannerCid', 'varchar')
    .addColumn('pinnedPost', 'varchar')
    .addColumn('createdAt', 'varchar')
    .addColumn('indexedAt', 'varchar', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('record_agg')
    .addColumn('uri', 'varchar', (c) => c.primaryKey())
    .addColumn('likeCount', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('repostCount', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('replyCount', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('quoteCount', 'integer', (c) => c.notNull().defaultTo(0))
    .modifyEnd(withoutRowid)
    .execute()

  await db.schema
    .createTable('actor_agg')
    .addColumn('did', 'varchar', (c) => c.primaryKey())
    .addColumn('followersCount', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('followsCount', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('postsCount', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('listsCount', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('feedgensCount', 'integer', (c) => c.notNull().defaultTo(0))
    .modifyEnd(withoutRowid)
    .execute()
  // getSuggestions: accounts by follower count, most-followed first
  await db.schema.createIndex('actor_agg_followers_idx').on('actor_agg').columns(['followersCount', 'did']).execute()

  await db.schema
    .createTable('notification')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('recipient', 'varchar', (c) => c.notNull())
    .addColumn('author', 'varchar', (c) => c.notNull())
    .addColumn('recordUri', 'varchar', (c) => c.notNull())
    .addColumn('recordCid', 'varchar', (c) => c.notNull())
    .addColumn('reason', 'varchar', (c) => c.notNull())
    .addColumn('reasonSubject', 'varchar')
    .addColumn('sortAt', 'varchar', (c) => c.notNull())
    .execute()
  // listNotifications / getUnreadCount: a recipient's notifications, newest first
  await db.schema.createIndex('notification_recipient_idx').on('notification').columns(['recipient', 'sortAt', 'id']).execute()
  // (a deleted record's notifications are found through notification_recipient_idx: its
  // recipients and sortAt are known from the record, so no index on recordUri is written per event)

  await db.schema
    .createTable('notification_seen')
    .addColumn('did', 'varchar', (c) => c.primaryKey())
    .addColumn('seenAt', 'varchar', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('stream_cursor')
    .addColumn('service', 'varchar', (c) => c.primaryKey())
    .addColumn('cursor', 'integer', (c) => c.notNull())
    .execute()

  // searchPosts; searchActors / searchActorsTypeahead (prefix queries)
  // contentless: rows are the post table's rowids, the text is not stored twice
  await sql`CREATE VIRTUAL TABLE post_fts USING fts5(text, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2')`.execute(db)
  await sql`CREATE VIRTUAL TABLE actor_fts USING fts5(did UNINDEXED, handle, displayName, tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3')`.execute(db)
}
