/**
 * The account store's schema. A store written by an earlier version opens
 * under the current one: the outbox row of the `commit_outbox` table
 * (schema 4) moves into the head's row (schema 5) and from there into the
 * `outbox` table (schema 8), where recovery finds it; the record
 * index (schema 5) is rebuilt keyed by (collection, rkey). And the record
 * reads search an index rather than read every record.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { ActorDb } from '../src/actor-store/actor-db.ts'
import { MIGRATIONS } from '../src/actor-store/db.ts'

let dir: string
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'actor-db-migrations-'))
})
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

/** A store as schema `version` left it. */
const oldStore = (file: string, version: number, fill: (db: Database.Database) => void): void => {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  for (const sql of MIGRATIONS.slice(0, version)) db.exec(sql)
  db.pragma(`user_version = ${version}`)
  fill(db)
  db.close()
}

test("schema 4 → now: the newest outbox row becomes the outbox (the head's row, then its own table), and the next commit's event follows it", () => {
  const file = path.join(dir, 'store.sqlite')
  oldStore(file, 4, (db) => {
    db.prepare('INSERT INTO repo_root (did, cid, rev, indexedAt) VALUES (?, ?, ?, ?)').run('did:plc:a', 'bafyhead', '3kaaaaaaaaab2', '2026-01-01T00:00:00.000Z')
    db.prepare('INSERT INTO commit_outbox (rev, seq, body) VALUES (?, ?, ?)').run('3kaaaaaaaaab2', 42, Buffer.from('newest'))
    db.prepare('INSERT INTO commit_outbox (rev, seq, body) VALUES (?, ?, ?)').run('3kaaaaaaaaab1', 41, Buffer.from('older'))
  })
  const store = new ActorDb(file)
  try {
    expect(store.getRoot()).toEqual({ did: 'did:plc:a', cid: 'bafyhead', rev: '3kaaaaaaaaab2', indexedAt: '2026-01-01T00:00:00.000Z' })
    expect(store.outboxAfter('')).toEqual([{ rev: '3kaaaaaaaaab2', seq: 42, body: Buffer.from('newest') }])
    expect(store.outboxAfter('3kaaaaaaaaab2')).toEqual([])
    store.transaction(() => store.setOutboxSeq('3kaaaaaaaaab2', 43))
    expect(store.outboxAfter('')[0]!.seq).toBe(43)

    // a head moved without an event (an import, a re-signing) leaves the outbox as it was
    store.transaction(() => store.setRoot('did:plc:a', 'bafyresigned', '3kaaaaaaaaab3', '2026-01-02T00:00:00.000Z'))
    expect(store.outboxAfter('')).toEqual([{ rev: '3kaaaaaaaaab2', seq: 43, body: Buffer.from('newest') }])
    // a commit's head brings its event
    store.transaction(() => store.setRoot('did:plc:a', 'bafynext', '3kaaaaaaaaab4', '2026-01-03T00:00:00.000Z', { seq: 44, body: Buffer.from('next') }))
    expect(store.outboxAfter('')).toEqual([{ rev: '3kaaaaaaaaab4', seq: 44, body: Buffer.from('next') }])
    expect(store.getRoot()?.cid).toBe('bafynext')
  } finally {
    store.close()
  }
  const raw = new Database(file, { readonly: true })
  expect(raw.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
  expect(raw.prepare("SELECT name FROM sqlite_schema WHERE name = 'commit_outbox'").all()).toEqual([])
  // schema 8 emptied the head row's outbox columns into the outbox table
  expect(raw.prepare('SELECT outboxRev, outboxBody FROM repo_root').get()).toEqual({ outboxRev: null, outboxBody: null })
  expect(raw.prepare('SELECT rev FROM outbox ORDER BY n').all()).toEqual([{ rev: '3kaaaaaaaaab2' }, { rev: '3kaaaaaaaaab4' }])
  raw.close()
})

test("schema 8 → now: outbox rows from before name no commit, so the head's row stays the head; the next commit's row is the head", () => {
  const file = path.join(dir, 'store.sqlite')
  oldStore(file, 8, (db) => {
    db.prepare('INSERT INTO repo_root (did, cid, rev, indexedAt, blocksN) VALUES (?, ?, ?, ?, ?)').run('did:plc:c', 'bafyhead', '3kaaaaaaaaab3', '2026-01-01T00:00:00.000Z', 1)
    // schema 8 wrote the head's row with every commit: a row after blocksN was already the head
    db.prepare('INSERT INTO outbox (slot, n, rev, seq, body) VALUES (?, ?, ?, ?, ?)').run(0, 1, '3kaaaaaaaaab2', 41, Buffer.from('older'))
    db.prepare('INSERT INTO outbox (slot, n, rev, seq, body) VALUES (?, ?, ?, ?, ?)').run(1, 2, '3kaaaaaaaaab3', 42, Buffer.from('newest'))
  })
  let store = new ActorDb(file)
  try {
    expect(store.getRoot()).toEqual({ did: 'did:plc:c', cid: 'bafyhead', rev: '3kaaaaaaaaab3', indexedAt: '2026-01-01T00:00:00.000Z' })
    store.transaction(() => store.setRoot('did:plc:c', 'bafynext', '3kaaaaaaaaab4', '2026-01-02T00:00:00.000Z', { seq: 43, body: Buffer.from('next') }), { keepDeferred: true })
  } finally {
    store.close()
  }
  store = new ActorDb(file)
  try {
    expect(store.getRoot()).toEqual({ did: 'did:plc:c', cid: 'bafynext', rev: '3kaaaaaaaaab4', indexedAt: '2026-01-02T00:00:00.000Z' })
    expect(store.outboxAfter('3kaaaaaaaaab3')).toEqual([{ rev: '3kaaaaaaaaab4', seq: 43, body: Buffer.from('next') }])
  } finally {
    store.close()
  }
})

test('schema 4 with an empty outbox (a repo never written since it was made or imported): no outbox after', () => {
  const file = path.join(dir, 'store.sqlite')
  oldStore(file, 4, (db) => {
    db.prepare('INSERT INTO repo_root (did, cid, rev, indexedAt) VALUES (?, ?, ?, ?)').run('did:plc:b', 'bafyhead', '3kaaaaaaaaab2', '2026-01-01T00:00:00.000Z')
  })
  const store = new ActorDb(file)
  try {
    expect(store.outboxAfter('')).toEqual([])
    expect(store.getRoot()?.rev).toBe('3kaaaaaaaaab2')
  } finally {
    store.close()
  }
})

test('schema 5 → now: the record index is rebuilt keyed by (collection, rkey), every record found as before, by URI and by listing', () => {
  const file = path.join(dir, 'store.sqlite')
  const did = 'did:plc:c'
  const rows = Array.from({ length: 300 }, (_, i) => {
    const collection = i % 3 === 0 ? 'app.bsky.feed.like' : 'app.bsky.feed.post'
    const rkey = `3k${String(1000 + i).padStart(11, '0')}`
    return { uri: `at://${did}/${collection}/${rkey}`, cid: `bafy${i}`, collection, rkey, repoRev: `3krev${String(i).padStart(5, '0')}`, indexedAt: '2026-01-01T00:00:00.000Z' }
  })
  oldStore(file, 5, (db) => {
    const ins = db.prepare('INSERT INTO record (uri, cid, collection, rkey, repoRev, indexedAt) VALUES (@uri, @cid, @collection, @rkey, @repoRev, @indexedAt)')
    for (const r of rows) ins.run(r)
  })
  const store = new ActorDb(file)
  try {
    for (const r of rows) expect(store.getRecord(r.uri)).toEqual(r)
    // the same key under another DID, or no key at all, is no record of this store
    expect(store.getRecord(rows[1]!.uri.replace(did, 'did:plc:other'))).toBeUndefined()
    expect(store.getRecord('at://did:plc:c')).toBeUndefined()
    expect(store.getRecord('not a uri')).toBeUndefined()
    const posts = rows.filter((r) => r.collection === 'app.bsky.feed.post')
    expect(store.listRecords('app.bsky.feed.post', 500, undefined, false)).toEqual([...posts].reverse())
    expect(store.listRecords('app.bsky.feed.post', 5, posts[10]!.rkey, true)).toEqual(posts.slice(11, 16))
    expect(store.listCollections()).toEqual(['app.bsky.feed.like', 'app.bsky.feed.post'])
    expect(store.countRecords()).toBe(300)

    // an update keeps one row per key; a delete by another DID's URI deletes nothing
    store.transaction(() => store.putRecord({ ...rows[1]!, cid: 'bafynew', repoRev: '3krevnew' }))
    expect(store.getRecord(rows[1]!.uri)).toMatchObject({ cid: 'bafynew', repoRev: '3krevnew' })
    expect(store.countRecords()).toBe(300)
    store.transaction(() => store.deleteRecord(rows[2]!.uri.replace(did, 'did:plc:other')))
    expect(store.countRecords()).toBe(300)
    store.transaction(() => store.deleteRecord(rows[2]!.uri))
    expect(store.getRecord(rows[2]!.uri)).toBeUndefined()
    expect(store.recordUsesCid('bafy3')).toBe(true)
    expect(store.recordUsesCid('bafy2')).toBe(false)
  } finally {
    store.close()
  }
  const raw = new Database(file, { readonly: true })
  const schema = raw.prepare("SELECT name, sql FROM sqlite_schema WHERE tbl_name = 'record' ORDER BY name").all() as { name: string; sql: string | null }[]
  expect(schema.map((r) => r.name)).toEqual(['record', 'record_cid_idx', 'record_rev_idx'])
  expect(schema[0]!.sql).toMatch(/WITHOUT ROWID/)
  raw.close()
})

/** An ActorDb that remembers the SQL of every statement it prepares. */
class RecordingDb extends ActorDb {
  readonly sql = new Set<string>()
  protected override prep(sql: string) {
    this.sql.add(sql)
    return super.prep(sql)
  }
  plan(sql: string): string[] {
    const params = new Array(sql.split('?').length - 1).fill('x')
    return (this.sqlite.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail)
  }
}

test('record reads search an index: none reads the whole record table', () => {
  const store = new RecordingDb(path.join(dir, 'store.sqlite'))
  try {
    const uri = 'at://did:plc:d/app.bsky.feed.post/3kaaaaaaaaab2'
    store.getRecord(uri)
    store.listRecords('app.bsky.feed.post', 10, undefined, false)
    store.listRecords('app.bsky.feed.post', 10, '3kaaaaaaaaab2', false)
    store.listRecords('app.bsky.feed.post', 10, '3kaaaaaaaaab2', true)
    store.recordsSinceRev('3kaaaaaaaaab1', ['app.bsky.feed.post', 'app.bsky.actor.profile'], 10)
    store.listBlobs('3kaaaaaaaaab1', 10, undefined)
    store.listCollections()
    store.recordUsesCid('bafyx')
    store.outboxAfter('')
    const reads = [...store.sql].filter((s) => /^\s*(SELECT|WITH)/i.test(s) && /\brecord\b/.test(s))
    expect(reads.length).toBeGreaterThanOrEqual(8)
    for (const sql of reads) {
      const plan = store.plan(sql)
      expect({ sql, plan }).toEqual({ sql, plan: expect.not.arrayContaining([expect.stringMatching(/^SCAN (record|r)\b/)]) })
      expect({ sql, plan }).toEqual({ sql, plan: expect.not.arrayContaining([expect.stringMatching(/AUTOMATIC/)]) })
    }
    // read-after-write goes by rev (only what is newer than the app view's rev), not by collection
    const since = reads.find((s) => s.includes('r.repoRev > ?') && s.includes('repo_block'))!
    expect(store.plan(since)[0]).toMatch(/USING INDEX record_rev_idx/)
  } finally {
    store.close()
  }
})

test('a store of a newer schema than this PDS knows is refused, not read as if it were current', () => {
  const file = path.join(dir, 'store.sqlite')
  oldStore(file, MIGRATIONS.length, () => undefined)
  const raw = new Database(file)
  raw.pragma(`user_version = ${MIGRATIONS.length + 1}`)
  raw.close()
  expect(() => new ActorDb(file)).toThrow(new RegExp(`has schema ${MIGRATIONS.length + 1}, newer than this PDS knows \\(${MIGRATIONS.length}\\)`))
})
