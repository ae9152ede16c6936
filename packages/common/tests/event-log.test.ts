/**
 * Retention trimming finds its cutoff by binary search over seqs (no index
 * on time): events sequenced before the window go, the rest stay, rows from
 * before the timeUs column are judged by sequencedAt, and a log created with
 * the old time index loses it on open. A log given a StoreCheckpointer
 * shared with other files has its WAL copied by that thread; one told to
 * checkpoint by itself ('writer') copies it back every SELF_CHECKPOINT_PAGES,
 * with no thread. Events queued
 * with appendSoon hold their seqs at once and are written together at the
 * end of the turn, before any later append or read; a refused batch frees
 * its seqs and tells each caller.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { EventLog, SELF_CHECKPOINT_PAGES, StoreCheckpointer } from '../src/index.ts'
import { decodeFrame } from '../src/stream/frames.ts'
import { waitFor } from './_wait.ts'

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'event-log-'))
const evt = (n: number) => ({ did: 'did:plc:test', type: '#test', body: { n } })
const seqs = (log: EventLog) => log.after(0, 1_000).map((r) => r.seq)
const decodeN = (frame: Uint8Array): number => {
  const f = decodeFrame(frame)
  return f.op === 1 ? (f.body as { n: number }).n : -1
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('trim drops exactly the events sequenced before the retention window', async () => {
  const dir = tmp()
  const log = new EventLog(path.join(dir, 'events.sqlite'), { retentionMs: 60_000 })
  log.append([evt(1), evt(2), evt(3)])
  await sleep(5)
  const between = Date.now()
  await sleep(5)
  log.append([evt(4)])
  log.append([evt(5), evt(6)])
  // nothing is older than the window yet
  expect(log.trim(between)).toBe(0)
  expect(seqs(log)).toEqual([1, 2, 3, 4, 5, 6])
  // the window starts between the two appends
  expect(log.trim(between + 60_000)).toBe(3)
  expect(seqs(log)).toEqual([4, 5, 6])
  expect(log.oldestSeq()).toBe(4)
  // again: nothing more to drop
  expect(log.trim(between + 60_000)).toBe(0)
  // all of it, and the next append still continues the seqs
  expect(log.trim(Date.now() + 61_000)).toBe(3)
  expect(seqs(log)).toEqual([])
  expect(log.append([evt(7)])[0]!.seq).toBe(7)
  await log.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test('appendSoon: seqs held at once, one transaction at the end of the turn, in order with append and reads', async () => {
  const dir = tmp()
  const log = new EventLog(path.join(dir, 'events.sqlite'), { retentionMs: 60_000 })
  log.append([evt(1)])
  const done: unknown[] = []
  const pushed: number[][] = []
  log.on('events', (rows) => pushed.push(rows.map((r) => r.seq)))
  expect(log.nextSeq).toBe(2)
  log.appendSoon([evt(2)], (err) => done.push(err))
  log.appendSoon([evt(3), evt(4)], (err) => done.push(err))
  // the seqs are taken, nothing is written yet
  expect(log.nextSeq).toBe(5)
  expect(log.currentSeq).toBe(1)
  expect([log.hasQueued('did:plc:test'), log.hasQueued('did:plc:other')]).toEqual([true, false])
  expect(log.db.prepare('SELECT count(*) AS n FROM event_log').get()).toEqual({ n: 1 })
  await new Promise((r) => setImmediate(r))
  expect(done).toEqual([null, null])
  expect(log.hasQueued('did:plc:test')).toBe(false)
  expect(pushed).toEqual([[2, 3, 4]])
  expect(seqs(log)).toEqual([1, 2, 3, 4])

  // an append, or a read, writes what is queued first
  log.appendSoon([evt(5)], (err) => done.push(err))
  expect(log.append([evt(6)]).map((r) => r.seq)).toEqual([6])
  log.appendSoon([evt(7)], (err) => done.push(err))
  expect(log.at(7)).toEqual({ did: 'did:plc:test', type: '#test' })
  expect(pushed).toEqual([[2, 3, 4], [5], [6], [7]])
  expect(log.after(4, 10).map((r) => decodeN(r.frame))).toEqual([5, 6, 7])

  // refused (a real SQLite error): every caller of the batch is told, and the seqs are free again
  log.db.pragma('query_only = ON')
  log.appendSoon([evt(8)], (err) => done.push(err))
  log.appendSoon([evt(9)], (err) => done.push(err))
  expect(log.nextSeq).toBe(10)
  await new Promise((r) => setImmediate(r))
  expect(done.slice(-2).map((e) => (e as { code?: string }).code)).toEqual(['SQLITE_READONLY', 'SQLITE_READONLY'])
  expect(log.nextSeq).toBe(8)
  log.db.pragma('query_only = OFF')
  expect(log.append([evt(10)])[0]!.seq).toBe(8)

  // close writes what is still queued
  log.appendSoon([evt(11)], (err) => done.push(err))
  const closed = log.close()
  expect(done.at(-1)).toBeNull()
  await closed
  const reopened = new EventLog(path.join(dir, 'events.sqlite'), { retentionMs: 60_000 })
  expect(reopened.currentSeq).toBe(9)
  await reopened.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test('rows without timeUs are trimmed by sequencedAt, and the old time index is dropped on open', async () => {
  const dir = tmp()
  const file = path.join(dir, 'events.sqlite')
  // a log as an earlier version left it: no timeUs column, an index on sequencedAt
  const old = new Database(file)
  old.exec(`CREATE TABLE event_log (seq integer PRIMARY KEY, did varchar NOT NULL, type varchar NOT NULL, frame blob NOT NULL, sequencedAt varchar NOT NULL);
    CREATE INDEX event_log_time_idx ON event_log (sequencedAt);`)
  const insert = old.prepare('INSERT INTO event_log (seq, did, type, frame, sequencedAt) VALUES (?, ?, ?, ?, ?)')
  insert.run(1, 'did:plc:test', '#test', Buffer.from([0]), '2026-01-01T00:00:00.000Z')
  insert.run(2, 'did:plc:test', '#test', Buffer.from([0]), '2026-01-02T00:00:00.000Z')
  old.close()

  const log = new EventLog(file, { retentionMs: 24 * 3_600_000 })
  const indexes = log.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event_log'").all()
  expect(indexes).toEqual([])
  log.append([evt(3)])
  expect(log.trim(Date.parse('2026-01-02T12:00:00.000Z'))).toBe(1)
  expect(seqs(log)).toEqual([2, 3])
  await log.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test("a log that checkpoints by itself ('writer') keeps its WAL under its bound, with no thread", async () => {
  const dir = tmp()
  const file = path.join(dir, 'events.sqlite')
  const log = new EventLog(file, { retentionMs: 60_000, checkpointer: 'writer' })
  const pad = 'x'.repeat(2000)
  // ~40 MB of events: more than twice the bound
  for (let round = 0; round < 200; round++) {
    log.append(Array.from({ length: 100 }, (_, i) => ({ did: 'did:plc:test', type: '#test', body: { n: round * 100 + i, pad } })))
  }
  const pageSize = log.db.pragma('page_size', { simple: true }) as number
  expect(fs.statSync(file).size).toBeGreaterThan(SELF_CHECKPOINT_PAGES * pageSize)
  // the log restarted from its beginning after each copy instead of growing
  expect(fs.statSync(`${file}-wal`).size).toBeLessThan((SELF_CHECKPOINT_PAGES + 200) * (pageSize + 24))
  expect(log.after(19_990, 100).map((r) => decodeN(r.frame))).toEqual([19_990, 19_991, 19_992, 19_993, 19_994, 19_995, 19_996, 19_997, 19_998, 19_999])
  await log.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test('a log sharing a StoreCheckpointer has its WAL copied by that thread, which outlives the log', async () => {
  const dir = tmp()
  const file = path.join(dir, 'events.sqlite')
  const ckpt = new StoreCheckpointer({ intervalMs: 20, synchronous: 'normal' })
  const log = new EventLog(file, { retentionMs: 60_000, checkpointer: ckpt })
  const pad = 'x'.repeat(1000)
  // ~2 MB of events in 20 appends, each one after the thread checkpointed the one before
  for (let round = 0; round < 20; round++) {
    const seen = ckpt.stats.checkpoints
    log.append(Array.from({ length: 100 }, (_, i) => ({ did: 'did:plc:test', type: '#test', body: { n: round * 100 + i, pad } })))
    await waitFor(`round ${round} checkpointed`, () => ckpt.stats.checkpoints > seen)
  }
  // the rows are in the file, and the log restarted instead of growing (the log's own writer
  // checkpoints only past ~1 GB, so without the shared thread it would hold all ~2 MB)
  expect(fs.statSync(file).size).toBeGreaterThan(2_000_000)
  expect(fs.statSync(`${file}-wal`).size).toBeLessThan(1_000_000)
  expect(ckpt.stats.failures).toBe(0)

  // closing the log leaves the shared thread to its owner: it still checkpoints other files
  await log.close()
  const other = path.join(dir, 'other.sqlite')
  const db = new Database(other)
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE t (v)')
  const seen = ckpt.stats.checkpoints
  ckpt.touch(other)
  await waitFor('the other file checkpointed', () => ckpt.stats.checkpoints > seen)
  db.close()
  await ckpt.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test('an append that fails midway writes none of its events, and the next one takes their seqs', async () => {
  const dir = tmp()
  const log = new EventLog(path.join(dir, 'log.sqlite'), { retentionMs: 60_000, checkpointer: 'writer' })
  try {
    log.append([evt(1)])
    const failing = { ...evt(3), encoded: () => { throw new Error('no frame') } }
    expect(() => log.append([evt(2), failing])).toThrow('no frame')
    expect(log.db.inTransaction).toBe(false)
    expect(seqs(log)).toEqual([1])
    expect(log.currentSeq).toBe(1)
    log.append([evt(2), evt(3)])
    expect(log.after(0, 10).map((r) => decodeN(r.frame))).toEqual([1, 2, 3])
  } finally {
    await log.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
