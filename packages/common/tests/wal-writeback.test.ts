/**
 * A writer that checkpoints by itself has its WAL synced off the thread on the
 * way to each checkpoint: one fdatasync at a time, once enough pages were
 * noted, none for a file that is gone, and an event log in `'writer'` mode
 * notes what it appends.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { EventLog, SELF_CHECKPOINT_WRITEBACK_PAGES, WalWriteback } from '../src/index.ts'

let dir: string
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wal-writeback-'))
})
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

test('a sync starts once the pages noted reach the bound, and only one runs at a time', async () => {
  const file = path.join(dir, 'db.sqlite')
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE t (v blob NOT NULL)')
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)')
  const wb = new WalWriteback(file, 100)
  for (let i = 0; i < 99; i++) {
    insert.run(Buffer.alloc(4000, i))
    wb.note(1)
  }
  expect(wb.syncs).toBe(0)
  insert.run(Buffer.alloc(4000))
  wb.note(1)
  expect(wb.syncs).toBe(1)
  // past the bound again while the first still runs: no second sync
  wb.note(500)
  expect(wb.syncs).toBe(1)
  await wb.settled()
  wb.note(100)
  expect(wb.syncs).toBe(2)
  await wb.settled()
  // the file is as the writer left it
  expect((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(100)
  db.close()
})

test('a log that is gone (its store closed or removed) is skipped without an error', async () => {
  const wb = new WalWriteback(path.join(dir, 'missing.sqlite'), 1)
  wb.note(5)
  expect(wb.syncs).toBe(1)
  await expect(wb.settled()).resolves.toBeUndefined()
})

test("an event log that checkpoints by itself syncs its WAL on the way, and close waits for the sync", async () => {
  const file = path.join(dir, 'events.sqlite')
  const log = new EventLog(file, { retentionMs: 60_000, checkpointer: 'writer' })
  const writeback = (log as unknown as { writeback: WalWriteback }).writeback
  const body = { text: 'x'.repeat(3000) }
  // each event about a page: the writeback bound's worth brings the first sync
  for (let i = 0; i < SELF_CHECKPOINT_WRITEBACK_PAGES / 2 + 10; i++) log.append([{ did: 'did:plc:a', type: '#test', body }, { did: 'did:plc:b', type: '#test', body }])
  expect(writeback.syncs).toBeGreaterThanOrEqual(1)
  await log.close()
  const db = new Database(file, { readonly: true })
  expect((db.prepare('SELECT count(*) AS n FROM event_log').get() as { n: number }).n).toBe((SELF_CHECKPOINT_WRITEBACK_PAGES / 2 + 10) * 2)
  db.close()
})
