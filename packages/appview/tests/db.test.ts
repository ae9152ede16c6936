import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Db } from '@atsuite/common'
import { APPVIEW_PAGE_SIZE, dbOptions, openAppViewDb } from '../src/db/index.ts'
import { envToConfig } from '../src/config.ts'

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
