/**
 * One thread checkpoints many WAL stores (a PDS's per-account stores): the
 * stores a writer touched get their logs copied into their files while the
 * writers, which never checkpoint by themselves here, stay open; the
 * thread keeps a bounded number of connections; a store it was told to forget
 * can be removed, and the thread never creates it again, even when a late
 * touch names it.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { StoreCheckpointer } from '../src/index.ts'
import { sleep, waitFor } from './_wait.ts'


let dir: string
const started: StoreCheckpointer[] = []
const checkpointer = (opts: ConstructorParameters<typeof StoreCheckpointer>[0]) => {
  const c = new StoreCheckpointer(opts)
  started.push(c)
  return c
}
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-ckpt-'))
})
afterEach(async () => {
  await Promise.all(started.splice(0).map((c) => c.close()))
  fs.rmSync(dir, { recursive: true, force: true })
})

/** A WAL store with one table, the writer's own checkpoints off. */
const store = (name: string) => {
  const file = path.join(dir, name, 'store.sqlite')
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('wal_autocheckpoint = 0')
  db.exec('CREATE TABLE t (id integer PRIMARY KEY, v blob NOT NULL)')
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)')
  const write = db.transaction((n: number) => {
    for (let i = 0; i < n; i++) insert.run(Buffer.alloc(1000, i))
  })
  return { file, db, write }
}

test('every touched store has its log copied into its file; the thread keeps at most maxOpen connections', async () => {
  const stores = Array.from({ length: 6 }, (_, i) => store(`s${i}`))
  const ckpt = checkpointer({ intervalMs: 30, synchronous: 'normal', maxOpen: 3 })
  // ~2 MB into each store, in 20 transactions each, touched after each as a PDS commit does
  for (let round = 0; round < 20; round++) {
    for (const s of stores) {
      s.write(100)
      ckpt.touch(s.file)
    }
    await sleep(10)
  }
  // the timer ran rounds by itself while the writes went on
  await waitFor('rounds run by the timer', () => ckpt.stats.checkpoints >= 6)
  // then every round posted so far done, and one more for the last writes
  await ckpt.flush()
  expect(ckpt.stats.failures).toBe(0)
  expect(ckpt.stats.open).toBeLessThanOrEqual(3)
  for (const s of stores) {
    // the rows reached the database file itself: only a checkpoint puts them there (the writer never
    // checkpoints and is still open)
    expect(fs.statSync(s.file).size).toBeGreaterThan(1_500_000)
  }
  // untouched, nothing is checkpointed: the count stands still (nothing is queued behind the flush)
  const settled = ckpt.stats.checkpoints
  await sleep(150)
  expect(ckpt.stats.checkpoints).toBe(settled)

  await ckpt.close()
  for (const s of stores) {
    s.db.close()
    const reader = new Database(s.file, { readonly: true })
    expect(reader.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 2000 })
    reader.close()
  }
})

test('a forgotten store can be removed, and a late touch never brings it back', async () => {
  const s = store('gone')
  const ckpt = checkpointer({ intervalMs: 20, synchronous: 'off' })
  s.write(10)
  ckpt.touch(s.file)
  await waitFor('its first checkpoint', () => ckpt.stats.checkpoints >= 1)
  expect(ckpt.stats.open).toBe(1)
  await ckpt.forget(s.file)
  expect(ckpt.stats.open).toBe(0)
  s.db.close()
  fs.rmSync(path.dirname(s.file), { recursive: true, force: true })
  // a touch that raced the removal: the thread fails to open it and creates nothing
  fs.mkdirSync(path.dirname(s.file))
  ckpt.touch(s.file)
  await waitFor('the failed attempt', () => ckpt.stats.failures >= 1)
  expect(fs.existsSync(s.file)).toBe(false)
  const started = Date.now()
  await ckpt.close()
  expect(Date.now() - started).toBeLessThan(2_000)
})
