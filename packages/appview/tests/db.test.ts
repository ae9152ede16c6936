import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Db } from '@atsuite/common'
import { APPVIEW_PAGE_SIZE, dbOptions, openAppViewDb } from '../src/db/index.ts'
import { envToConfig } from '../src/config.ts'
import * as m001 from '../src/db/migrations/001-init.ts'
import * as m002 from '../src/db/migrations/002-subject-ids.ts'
import * as m003 from '../src/db/migrations/003-like-keys.ts'

// The index file's page size is chosen at its creation (db/index.ts says why
// 8 KiB); a file made before keeps its own, and the writer's checkpoint
// bound stays ~1 GiB of log whichever it is.

let dir: string
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'appview-db-'))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const pragma = (db: { sqlite: { pragma: (s: string, o: { simple: true }) => unknown } }, name: string) => db.sqlite.pragma(name, { simple: true })

test('a new index file has 8 KiB pages, WAL, and a ~1 GiB writer checkpoint bound', async () => {
  const db = await openAppViewDb(path.join(dir, 'new.sqlite'))
  expect(APPVIEW_PAGE_SIZE).toBe(8192)
  expect(pragma(db, 'page_size')).toBe(8192)
  expect(pragma(db, 'journal_mode')).toBe('wal')
  expect(pragma(db, 'wal_autocheckpoint')).toBe(131072)
  // the schema is in place and takes writes
  db.sqlite.prepare('INSERT INTO actor (did, indexedAt) VALUES (?, ?)').run('did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', new Date().toISOString())
  expect(db.sqlite.prepare('SELECT count(*) AS n FROM actor').get()).toEqual({ n: 1 })
  await db.close()
  // reopened: the same file, the same pages, the row kept
  const again = await openAppViewDb(path.join(dir, 'new.sqlite'))
  expect(pragma(again, 'page_size')).toBe(8192)
  expect(again.sqlite.prepare('SELECT count(*) AS n FROM actor').get()).toEqual({ n: 1 })
  await again.close()
})

test('a file made with 4 KiB pages keeps them, with its bound in its own pages', async () => {
  const file = path.join(dir, 'old.sqlite')
  const old = new Db(file)
  old.sqlite.exec('CREATE TABLE before_upgrade (x integer)')
  expect(pragma(old, 'page_size')).toBe(4096)
  await old.close()
  const db = await openAppViewDb(file)
  expect(pragma(db, 'page_size')).toBe(4096)
  expect(pragma(db, 'wal_autocheckpoint')).toBe(262144)
  expect(db.sqlite.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE name IN ('before_upgrade', 'actor')").get()).toEqual({ n: 2 })
  await db.close()
})

test("the indexer's connection gets a page cache of its own size, readers theirs", async () => {
  const defaults = envToConfig({})
  expect(defaults.indexerCacheMb).toBe(4096)
  expect(defaults.dbCacheMb).toBe(256)
  const cfg = envToConfig({ APPVIEW_INDEXER_CACHE_MB: '64', APPVIEW_DB_CACHE_MB: '8' })
  const file = path.join(dir, 'roles.sqlite')
  const writer = await openAppViewDb(file, dbOptions(cfg, 'indexer'))
  const reader = await openAppViewDb(file, dbOptions(cfg, 'reader'))
  // a negative cache_size is KiB
  expect(pragma(writer, 'cache_size')).toBe(-64 * 1024)
  expect(pragma(reader, 'cache_size')).toBe(-8 * 1024)
  await writer.close()
  await reader.close()
  expect(() => envToConfig({ APPVIEW_INDEXER_CACHE_MB: '0' })).toThrow('APPVIEW_INDEXER_CACHE_MB must be at least 1')
})

test('APPVIEW_DB_WRITER_CHECKPOINT_MB sets the log length past which a writer checkpoints by itself', async () => {
  expect(envToConfig({}).dbWriterCheckpointMb).toBe(1024)
  const cfg = envToConfig({ APPVIEW_DB_WRITER_CHECKPOINT_MB: '2560' })
  const db = await openAppViewDb(path.join(dir, 'bound.sqlite'), dbOptions(cfg, 'indexer'))
  // 2,560 MiB of 8 KiB pages
  expect(pragma(db, 'wal_autocheckpoint')).toBe(327680)
  await db.close()
  expect(() => envToConfig({ APPVIEW_DB_WRITER_CHECKPOINT_MB: '0' })).toThrow('APPVIEW_DB_WRITER_CHECKPOINT_MB must be at least 1')
})

test('migration 003: likes and reposts indexed before are keyed by creator and record key, their URIs and contents unchanged', async () => {
  const file = path.join(dir, 'before-keys.sqlite')
  const old = new Db(file, { pageSize: APPVIEW_PAGE_SIZE })
  await old.migrateToLatest({ '001': m001, '002': m002 })
  const alice = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
  const web = 'did:web:example.com'
  const post = `at://${alice}/app.bsky.feed.post/3k2a`
  const t = '2026-01-01T00:00:00.000Z'
  const subjectId = (old.sqlite.prepare('INSERT INTO record_agg (uri, likeCount, repostCount) VALUES (?, 2, 1) RETURNING id').get(post) as { id: number }).id
  const rows = [
    ['like', `at://${alice}/app.bsky.feed.like/3k2b`, alice, ''],
    ['like', `at://${web}/app.bsky.feed.like/3k2c`, web, '{"$type":"app.bsky.feed.like","via":"x"}'],
    ['repost', `at://${web}/app.bsky.feed.repost/3k2d`, web, ''],
  ] as const
  for (const [table, uri, creator, json] of rows) {
    old.sqlite
      .prepare(`INSERT INTO "${table}" (uri, cid, creator, subject, subjectId, subjectCid, json, createdAt, indexedAt, sortAt) VALUES (?, 'c', ?, ?, ?, 's', ?, ?, ?, ?)`)
      .run(uri, creator, post, subjectId, json, t, t, t)
  }
  await old.close()

  const db = await openAppViewDb(file)
  const read = (table: string) => db.sqlite.prepare(`SELECT uri, creator, rkey, subject, subjectId, json FROM "${table}" ORDER BY creator, rkey`).all()
  expect(read('like')).toEqual([
    { uri: `at://${alice}/app.bsky.feed.like/3k2b`, creator: alice, rkey: '3k2b', subject: post, subjectId, json: '' },
    { uri: `at://${web}/app.bsky.feed.like/3k2c`, creator: web, rkey: '3k2c', subject: post, subjectId, json: rows[1][3] },
  ])
  expect(read('repost')).toEqual([{ uri: `at://${web}/app.bsky.feed.repost/3k2d`, creator: web, rkey: '3k2d', subject: post, subjectId, json: '' }])
  // (creator, rkey) is unique: a second row there is refused, the same rkey by another creator is not
  const insert = db.sqlite.prepare(`INSERT INTO "like" (creator, rkey, cid, subject, subjectId, subjectCid, json, createdAt, indexedAt, sortAt) VALUES (?, ?, 'c', ?, ?, 's', '', ?, ?, ?)`)
  expect(() => insert.run(alice, '3k2b', post, subjectId, t, t, t)).toThrow(/UNIQUE constraint failed/)
  insert.run(web, '3k2b', post, subjectId, t, t, t)
  expect(db.sqlite.prepare('SELECT likeCount, repostCount FROM record_agg WHERE id = ?').get(subjectId)).toEqual({ likeCount: 2, repostCount: 1 })
  await db.close()
})

test('migration 004: likes and reposts become rowid tables, ids in indexing order, (creator, rkey) still unique', async () => {
  const file = path.join(dir, 'before-rowids.sqlite')
  const old = new Db(file, { pageSize: APPVIEW_PAGE_SIZE })
  await old.migrateToLatest({ '001': m001, '002': m002, '003': m003 })
  const alice = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
  const bob = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb'
  const post = `at://${alice}/app.bsky.feed.post/3k2a`
  const subjectId = (old.sqlite.prepare('INSERT INTO record_agg (uri, likeCount, repostCount) VALUES (?, 2, 1) RETURNING id').get(post) as { id: number }).id
  // indexed in this order (indexedAt), which is not the (creator, rkey) order
  const rows = [
    ['like', bob, '3k2c', '2026-01-01T00:00:01.000Z'],
    ['like', alice, '3k2d', '2026-01-01T00:00:02.000Z'],
    ['repost', bob, '3k2e', '2026-01-01T00:00:03.000Z'],
  ] as const
  for (const [table, creator, rkey, at] of rows) {
    old.sqlite
      .prepare(`INSERT INTO "${table}" (creator, rkey, cid, subject, subjectId, subjectCid, json, createdAt, indexedAt, sortAt) VALUES (?, ?, 'c', ?, ?, 's', '', ?, ?, ?)`)
      .run(creator, rkey, post, subjectId, at, at, at)
  }
  await old.close()

  const db = await openAppViewDb(file)
  expect(db.sqlite.prepare('SELECT id, uri, indexedAt FROM "like" ORDER BY id').all()).toEqual([
    { id: 1, uri: `at://${bob}/app.bsky.feed.like/3k2c`, indexedAt: rows[0][3] },
    { id: 2, uri: `at://${alice}/app.bsky.feed.like/3k2d`, indexedAt: rows[1][3] },
  ])
  expect(db.sqlite.prepare('SELECT id, uri FROM repost').all()).toEqual([{ id: 1, uri: `at://${bob}/app.bsky.feed.repost/3k2e` }])
  // rowid tables now (a WITHOUT ROWID table has no rowid to select)
  for (const table of ['like', 'repost']) expect((db.sqlite.prepare(`SELECT sql FROM sqlite_schema WHERE name = ?`).get(table) as { sql: string }).sql).not.toMatch(/WITHOUT ROWID/)
  const indexColumns = (name: string) => (db.sqlite.prepare(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`).all(name) as { name: string }[]).map((c) => c.name)
  expect(indexColumns('like_key_idx')).toEqual(['creator', 'rkey'])
  expect(indexColumns('like_subject_idx')).toEqual(['subjectId', 'sortAt'])
  expect(indexColumns('like_pair_idx')).toEqual(['creator', 'subjectId', 'sortAt'])
  // a new like goes after the others; the same (creator, rkey) again is refused
  const insert = db.sqlite.prepare(`INSERT INTO "like" (creator, rkey, cid, subject, subjectId, subjectCid, json, createdAt, indexedAt, sortAt) VALUES (?, ?, 'c', ?, ?, 's', '', ?, ?, ?) RETURNING id`)
  const t = '2026-01-02T00:00:00.000Z'
  expect(insert.get(alice, '3k2f', post, subjectId, t, t, t)).toEqual({ id: 3 })
  expect(() => insert.get(bob, '3k2c', post, subjectId, t, t, t)).toThrow(/UNIQUE constraint failed/)
  expect(db.sqlite.prepare('SELECT likeCount, repostCount FROM record_agg WHERE id = ?').get(subjectId)).toEqual({ likeCount: 2, repostCount: 1 })
  await db.close()
})

test('migration 004: follows and blocks become rowid tables unique by (creator, rkey), their URIs and contents unchanged', async () => {
  const file = path.join(dir, 'before-follow-rowids.sqlite')
  const old = new Db(file, { pageSize: APPVIEW_PAGE_SIZE })
  await old.migrateToLatest({ '001': m001, '002': m002, '003': m003 })
  const alice = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
  const web = 'did:web:example.com'
  const rows = [
    ['follow', `at://${web}/app.bsky.graph.follow/3k2b`, web, alice, '', '2026-01-01T00:00:01.000Z'],
    ['follow', `at://${alice}/app.bsky.graph.follow/3k2c`, alice, web, '{"$type":"app.bsky.graph.follow","via":"x"}', '2026-01-01T00:00:02.000Z'],
    ['block', `at://${alice}/app.bsky.graph.block/3k2d`, alice, web, '', '2026-01-01T00:00:03.000Z'],
  ] as const
  for (const [table, uri, creator, subject, json, at] of rows) {
    old.sqlite
      .prepare(`INSERT INTO "${table}" (uri, cid, creator, subject, json, createdAt, indexedAt, sortAt) VALUES (?, 'c', ?, ?, ?, ?, ?, ?)`)
      .run(uri, creator, subject, json, at, at, at)
  }
  await old.close()

  const db = await openAppViewDb(file)
  const read = (table: string) => db.sqlite.prepare(`SELECT id, uri, creator, rkey, subject, json FROM "${table}" ORDER BY id`).all()
  // ids in indexing order (web's follow first), not the URIs' order
  expect(read('follow')).toEqual([
    { id: 1, uri: rows[0][1], creator: web, rkey: '3k2b', subject: alice, json: '' },
    { id: 2, uri: rows[1][1], creator: alice, rkey: '3k2c', subject: web, json: rows[1][4] },
  ])
  expect(read('block')).toEqual([{ id: 1, uri: rows[2][1], creator: alice, rkey: '3k2d', subject: web, json: '' }])
  const indexColumns = (name: string) => (db.sqlite.prepare(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`).all(name) as { name: string }[]).map((c) => c.name)
  expect(indexColumns('follow_key_idx')).toEqual(['creator', 'rkey'])
  expect(indexColumns('follow_creator_idx')).toEqual(['creator', 'sortAt'])
  expect(indexColumns('follow_pair_idx')).toEqual(['creator', 'subject', 'sortAt'])
  expect(indexColumns('follow_subject_idx')).toEqual(['subject', 'sortAt'])
  expect(indexColumns('block_key_idx')).toEqual(['creator', 'rkey'])
  expect(indexColumns('block_pair_idx')).toEqual(['creator', 'subject', 'sortAt'])
  // (creator, rkey) is unique; the same rkey by another creator is not refused
  const insert = db.sqlite.prepare(`INSERT INTO follow (creator, rkey, cid, subject, json, createdAt, indexedAt, sortAt) VALUES (?, ?, 'c', ?, '', ?, ?, ?) RETURNING id`)
  const t = '2026-01-02T00:00:00.000Z'
  expect(() => insert.get(web, '3k2b', alice, t, t, t)).toThrow(/UNIQUE constraint failed/)
  expect(insert.get(alice, '3k2b', alice, t, t, t)).toEqual({ id: 3 })
  await db.close()
})

test('migration 002: a file indexed before keeps its counts, and its likes and reposts are keyed by subject ids', async () => {
  const file = path.join(dir, 'before-ids.sqlite')
  const old = new Db(file, { pageSize: APPVIEW_PAGE_SIZE })
  await old.migrateToLatest({ '001': m001 })
  const alice = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
  const bob = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb'
  const post = (did: string, rkey: string) => `at://${did}/app.bsky.feed.post/${rkey}`
  const t = '2026-01-01T00:00:00.000Z'
  const insert = (table: string, uri: string, creator: string, subject: string) =>
    old.sqlite
      .prepare(`INSERT INTO "${table}" (uri, cid, creator, subject, subjectCid, json, createdAt, indexedAt, sortAt) VALUES (?, 'c', ?, ?, 's', '{}', ?, ?, ?)`)
      .run(uri, creator, subject, t, t, t)
  // bob's post counted; alice's like of a post not yet indexed (no count row), and a duplicate like
  old.sqlite.prepare('INSERT INTO record_agg (uri, likeCount, repostCount, replyCount, quoteCount) VALUES (?, 1, 1, 2, 3)').run(post(bob, '3k2a'))
  insert('like', `at://${alice}/app.bsky.feed.like/3k2b`, alice, post(bob, '3k2a'))
  insert('like', `at://${alice}/app.bsky.feed.like/3k2c`, alice, post(bob, '3k2a'))
  insert('like', `at://${bob}/app.bsky.feed.like/3k2d`, bob, post(alice, '3k2e'))
  insert('repost', `at://${alice}/app.bsky.feed.repost/3k2f`, alice, post(bob, '3k2a'))
  await old.close()

  const db = await openAppViewDb(file)
  const aggs = db.sqlite.prepare('SELECT id, uri, likeCount, repostCount, replyCount, quoteCount FROM record_agg ORDER BY id').all() as { id: number; uri: string }[]
  expect(aggs).toEqual([
    { id: 1, uri: post(bob, '3k2a'), likeCount: 1, repostCount: 1, replyCount: 2, quoteCount: 3 },
    { id: 2, uri: post(alice, '3k2e'), likeCount: 0, repostCount: 0, replyCount: 0, quoteCount: 0 },
  ])
  // (URIs sort alice's likes first)
  expect(db.sqlite.prepare('SELECT subject, subjectId FROM "like" ORDER BY uri').all()).toEqual([
    { subject: post(bob, '3k2a'), subjectId: 1 },
    { subject: post(bob, '3k2a'), subjectId: 1 },
    { subject: post(alice, '3k2e'), subjectId: 2 },
  ])
  expect(db.sqlite.prepare('SELECT subjectId FROM repost').all()).toEqual([{ subjectId: 1 }])
  const indexColumns = (name: string) => (db.sqlite.prepare(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`).all(name) as { name: string }[]).map((c) => c.name)
  // (as migration 004 leaves them: every entry carries the row's id)
  for (const table of ['like', 'repost']) {
    expect(indexColumns(`${table}_subject_idx`)).toEqual(['subjectId', 'sortAt'])
    expect(indexColumns(`${table}_pair_idx`)).toEqual(['creator', 'subjectId', 'sortAt'])
  }
  // a new record gets an id never given before
  db.sqlite.prepare('INSERT INTO record_agg (uri) VALUES (?)').run(post(bob, '3k2g'))
  expect((db.sqlite.prepare('SELECT id FROM record_agg WHERE uri = ?').get(post(bob, '3k2g')) as { id: number }).id).toBeGreaterThan(2)
  await db.close()
})
