/**
 * An account store written by an earlier version opens under the current
 * schema: the outbox row of the `commit_outbox` table (schema 4) moves into
 * the head's row, where recovery finds it, and the table is gone.
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

test("schema 4 → now: the newest outbox row becomes the head row's outbox, and the next commit's event replaces it", () => {
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
  raw.close()
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
