/**
 * A commit's block changes are written after its answer, in batches of
 * several commits (ActorDb.deferBlocks / settle): what a batch writes is
 * what applying each commit in turn would leave, reads of one block see the
 * batch before it is written, every scan of the block table writes it first,
 * the outbox ring keeps a row per commit for a batch and one more, and a
 * store copied as a kill -9 leaves it redoes exactly the commits after the
 * last batch. (A crash of the whole PDS between a commit and its batch:
 * recovery.test.ts.)
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { cidForCbor, encodeCar } from '@atsuite/common/car'
import { encodeDagCbor } from '@atsuite/common/dag-cbor-encode'
import { ActorDb, OUTBOX_SLOTS, SETTLE_COMMITS } from '../src/actor-store/actor-db.ts'

let dir: string
let file: string
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deferred-blocks-'))
  file = path.join(dir, 'store.sqlite')
})
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }))

const DID = 'did:plc:deferred'
let revN = 0
const nextRev = () => `3kaaaaaaa${String(++revN).padStart(4, '0')}`

/** A block named `name` (its content is the name as DAG-CBOR), by CID: the tests speak of blocks by name. */
const blocks = new Map<string, { cid: string; bytes: Uint8Array }>()
const block = (name: string) => {
  let b = blocks.get(name)
  if (!b) {
    const bytes = encodeDagCbor({ name })
    b = { cid: cidForCbor(bytes).toString(), bytes }
    blocks.set(name, b)
  }
  return b
}
const cid = (name: string) => block(name).cid
const names = (cids: string[]) => cids.map((c) => [...blocks].find(([, b]) => b.cid === c)?.[0] ?? c).sort()

/**
 * One commit as the repo writer makes it: record rows, head and outbox row (its event's CAR carries
 * the blocks it adds) in one transaction, then its blocks deferred. The head is the first block added.
 */
const commit = (db: ActorDb, c: { added: string[]; removed?: string[]; records?: [string, string][]; rev?: string }): string => {
  const rev = c.rev ?? nextRev()
  const added = c.added.map((n) => [block(n).cid, block(n).bytes] as const)
  const removed = (c.removed ?? []).map(cid)
  const car = encodeCar(cidForCbor(block(c.added[0]).bytes), added.map(([, bytes]) => [cidForCbor(bytes), bytes] as const))
  db.transaction(
    () => {
      for (const [rkey, name] of c.records ?? []) {
        db.putRecord({ uri: `at://${DID}/app.bsky.feed.post/${rkey}`, cid: cid(name), collection: 'app.bsky.feed.post', rkey, repoRev: rev, indexedAt: 'now' })
      }
      db.setRoot(DID, cid(c.added[0]), rev, 'now', { seq: revN, body: encodeDagCbor({ rev, blocks: car }), removed })
    },
    { keepDeferred: true },
  )
  db.deferBlocks(rev, added, removed)
  return rev
}

/** The file's blocks (by name), outbox revs (oldest first) and the newest rev whose blocks are all written, as another connection sees them. */
const onDisk = (at = file) => {
  const raw = new Database(at, { readonly: true })
  try {
    return {
      blocks: names((raw.prepare('SELECT cid FROM repo_block').all() as { cid: string }[]).map((r) => r.cid)),
      outbox: (raw.prepare('SELECT rev FROM outbox ORDER BY n').all() as { rev: string }[]).map((r) => r.rev),
      doneRev:
        (raw.prepare('SELECT rev FROM outbox WHERE n = (SELECT blocksN FROM repo_root)').get() as { rev: string } | undefined)?.rev ??
        null,
    }
  } finally {
    raw.close()
  }
}

/** The store's files as a kill -9 would leave them now (committed transactions only), opened afresh. */
const crashCopy = (): { file: string; db: ActorDb } => {
  const copy = path.join(dir, `crashed-${revN}.sqlite`)
  fs.copyFileSync(file, copy)
  if (fs.existsSync(`${file}-wal`)) fs.copyFileSync(`${file}-wal`, `${copy}-wal`)
  return { file: copy, db: new ActorDb(copy) }
}

test('a batch writes what each commit in turn would leave; blocks added and removed within it are never written', () => {
  const db = new ActorDb(file)
  try {
    // commit 1: a record block two records are (identical records share one), a node, the commit
    const r1 = commit(db, { added: ['c1', 'rec-same', 'node-1'], records: [['a', 'rec-same'], ['b', 'rec-same']] })
    // commit 2 replaces the node and the commit; deletes record a, whose block record b still is
    db.deleteRecord(`at://${DID}/app.bsky.feed.post/a`)
    const r2 = commit(db, { added: ['c2', 'node-2'], removed: ['node-1', 'c1', 'rec-same'] })
    // commit 3 replaces them again and adds back what commit 2 removed
    const r3 = commit(db, { added: ['c3', 'node-1'], removed: ['node-2', 'c2'] })

    // nothing written yet: each commit has its outbox row, from which a crash would redo it
    expect(onDisk()).toEqual({ blocks: [], outbox: [r1, r2, r3], doneRev: null })
    expect(db.outboxAfter('')).toMatchObject([{ rev: r3, seq: revN }])
    // reads of one block see the batch
    expect(db.getBlock(cid('c3'))).toEqual(Buffer.from(block('c3').bytes))
    expect(db.getBlock(cid('node-1'))).toEqual(Buffer.from(block('node-1').bytes))
    expect(db.getBlock(cid('rec-same'))).toEqual(Buffer.from(block('rec-same').bytes))
    expect(db.getBlock(cid('c1'))).toBeUndefined()
    expect(db.hasBlock(cid('node-2'))).toBe(false)
    expect(db.hasBlock(cid('c3'))).toBe(true)
    // not due after three commits
    db.settleIfDue()
    expect(onDisk().blocks).toEqual([])

    // a kill -9 now: opening the copy redoes the three commits, to the same blocks
    const crashed = crashCopy()
    try {
      expect(crashed.db.redoDeferredBlocks()).toEqual([r1, r2, r3])
    } finally {
      crashed.db.close()
    }
    expect(onDisk(crashed.file)).toEqual({ blocks: ['c3', 'node-1', 'rec-same'], outbox: [r1, r2, r3], doneRev: r3 })

    // a scan of the block table writes the batch first
    expect(db.stats().blocks).toBe(3)
    expect(onDisk()).toEqual({ blocks: ['c3', 'node-1', 'rec-same'], outbox: [r1, r2, r3], doneRev: r3 })
    // written: nothing to redo
    const again = crashCopy()
    try {
      expect(again.db.redoDeferredBlocks()).toBeNull()
    } finally {
      again.db.close()
    }
  } finally {
    db.close()
  }
})

test(`a batch is due after ${SETTLE_COMMITS} commits; the outbox is a ring of ${OUTBOX_SLOTS} rows; closing the store writes a smaller batch`, () => {
  let db = new ActorDb(file)
  try {
    commit(db, { added: ['c0'] })
    const records: string[] = []
    // commits 2 … SETTLE_COMMITS - 1: each replaces the commit block and adds a record
    for (let i = 2; i < SETTLE_COMMITS; i++) {
      records.push(`rec-${i}`)
      commit(db, { added: [`c${i}`, `rec-${i}`], removed: [i === 2 ? 'c0' : `c${i - 1}`] })
      db.settleIfDue()
      expect(onDisk().blocks).toEqual([])
    }
    const last = commit(db, { added: ['last', 'rec-last'], removed: [`c${SETTLE_COMMITS - 1}`] })
    db.settleIfDue()
    // the records and the last commit block: none of the commit blocks before it was ever written
    expect(onDisk()).toMatchObject({ blocks: [...records, 'last', 'rec-last'].sort(), doneRev: last })

    // the ring: a row for each of the last OUTBOX_SLOTS commits, the newest the outbox
    const revs: string[] = []
    for (let i = 0; i < OUTBOX_SLOTS + 3; i++) {
      revs.push(commit(db, { added: [`more-${i}`], removed: [i ? `more-${i - 1}` : 'last'] }))
      db.settleIfDue()
    }
    expect(onDisk().outbox).toEqual(revs.slice(-OUTBOX_SLOTS))
    expect(db.outboxAfter('')).toMatchObject([{ rev: revs.at(-1) }])
    expect(db.outboxAfter(revs.at(-1)!)).toEqual([])

    // a kill -9 now redoes the commits after the last batch only
    const crashed = crashCopy()
    try {
      expect(crashed.db.redoDeferredBlocks()).toEqual(revs.slice(-(revs.length - SETTLE_COMMITS)))
    } finally {
      crashed.db.close()
    }
    expect(onDisk(crashed.file).blocks).toEqual([...records, 'rec-last', `more-${OUTBOX_SLOTS + 2}`].sort())

    const after = commit(db, { added: ['after', 'rec-after'], removed: [`more-${OUTBOX_SLOTS + 2}`] })
    db.close()
    expect(onDisk()).toMatchObject({ blocks: [...records, 'after', 'rec-after', 'rec-last'].sort(), doneRev: after })
    db = new ActorDb(file)
    expect(db.redoDeferredBlocks()).toBeNull()
  } finally {
    db.close()
  }
})

test('a head moved without a commit (an import) writes the batch first; a crash after it redoes only the commits since, though the imported rev is older than the outbox rows', () => {
  const db = new ActorDb(file)
  try {
    commit(db, { added: ['c1'] })
    const r2 = commit(db, { added: ['c2'], removed: ['c1'] })
    // an imported repo from another host, its rev older than this store's commits
    const importedRev = '3kaaaaaaa0000'
    db.transaction(() => {
      db.putBlock(cid('imported'), block('imported').bytes, importedRev)
      db.deleteBlock(cid('c2'))
      db.setRoot(DID, cid('imported'), importedRev, 'now')
    })
    expect(onDisk()).toEqual({ blocks: ['imported'], outbox: [expect.any(String), r2], doneRev: r2 })
    // the next commits' revs follow the imported head's, and are older than the rows before them too
    const r3 = commit(db, { added: ['c3'], removed: ['imported'], rev: '3kaaaaaaa0001' })
    const r4 = commit(db, { added: ['c4'], removed: ['c3'], rev: '3kaaaaaaa0002' })

    const crashed = crashCopy()
    try {
      expect(crashed.db.redoDeferredBlocks()).toEqual([r3, r4])
      expect(crashed.db.outboxAfter('')).toMatchObject([{ rev: r4 }])
    } finally {
      crashed.db.close()
    }
    // c1 and c2 are not brought back
    expect(onDisk(crashed.file).blocks).toEqual(['c4'])
  } finally {
    db.close()
  }
})

test("a block stored before a batch, removed and added again within it, takes the rev it came back at (getRepo's since goes by it)", () => {
  const db = new ActorDb(file)
  try {
    commit(db, { added: ['c1', 'node-x'] })
    db.settle()
    const r2 = commit(db, { added: ['c2'], removed: ['c1', 'node-x'] })
    const r3 = commit(db, { added: ['c3', 'node-x'], removed: ['c2'] })
    // and one removed and added by the same commit keeps its rev, as commit by commit
    const r4 = commit(db, { added: ['c4', 'node-y'], removed: ['c3'] })
    db.settle()
    commit(db, { added: ['c5', 'node-y'], removed: ['c4', 'node-y'] })
    const since = (rev: string) => names(db.blockPageSince(rev, '', 100).map((b) => b.cid))
    expect(since(r2)).toEqual(['c5', 'node-x', 'node-y'])
    expect(since(r3)).toEqual(['c5', 'node-y'])
    expect(since(r4)).toEqual(['c5'])
  } finally {
    db.close()
  }
})

test('before its batch is written, hasBlock and getBlock agree on a block a deleted record shared with a later identical one', () => {
  const db = new ActorDb(file)
  try {
    commit(db, { added: ['c1', 'rec'], records: [['a', 'rec']] })
    commit(db, { added: ['c2', 'rec'], removed: ['c1'], records: [['b', 'rec']] })
    db.deleteRecord(`at://${DID}/app.bsky.feed.post/a`)
    commit(db, { added: ['c3'], removed: ['c2', 'rec'] })
    expect(db.getBlock(cid('rec'))).toEqual(Buffer.from(block('rec').bytes))
    expect(db.hasBlock(cid('rec'))).toBe(true)
    // a scan inside another transaction cannot write the batch (a rollback would undo it after it left memory)
    expect(() => db.transaction(() => db.stats(), { keepDeferred: true })).toThrow(/inside another transaction/)
    expect(db.stats().blocks).toBe(2)
    expect(onDisk().blocks).toEqual(['c3', 'rec'])
  } finally {
    db.close()
  }
})

test("a commit's transaction leaves the head's row as it was: its outbox row is the head until the batch moves the row to it, and a kill -9 copy opens at the newest commit", () => {
  const db = new ActorDb(file)
  /** the head's row as another connection sees it */
  const rootRow = (at = file) => {
    const raw = new Database(at, { readonly: true })
    try {
      return raw.prepare('SELECT cid, rev FROM repo_root').get() as { cid: string; rev: string }
    } finally {
      raw.close()
    }
  }
  try {
    const r1 = commit(db, { added: ['h1'] })
    db.settle()
    expect(rootRow()).toEqual({ cid: cid('h1'), rev: r1 })
    const r2 = commit(db, { added: ['h2'], removed: ['h1'] })
    const r3 = commit(db, { added: ['h3'], removed: ['h2'] })
    expect(db.getRoot()).toMatchObject({ cid: cid('h3'), rev: r3 })
    // not written by either commit
    expect(rootRow()).toEqual({ cid: cid('h1'), rev: r1 })

    const crashed = crashCopy()
    try {
      expect(crashed.db.getRoot()).toMatchObject({ did: DID, cid: cid('h3'), rev: r3 })
      expect(crashed.db.redoDeferredBlocks()).toEqual([r2, r3])
      // the batch the redo wrote moved the head's row
      expect(rootRow(crashed.file)).toEqual({ cid: cid('h3'), rev: r3 })
      expect(crashed.db.getRoot()).toMatchObject({ cid: cid('h3'), rev: r3 })
    } finally {
      crashed.db.close()
    }

    db.settle()
    expect(rootRow()).toEqual({ cid: cid('h3'), rev: r3 })
    // a head moved without a commit is the row's at once, over a commit not yet in a batch
    commit(db, { added: ['h4'], removed: ['h3'] })
    db.transaction(() => db.setRoot(DID, cid('h4'), '3kaaaaaaa0000', 'now'))
    expect(rootRow()).toEqual({ cid: cid('h4'), rev: '3kaaaaaaa0000' })
    const reopened = new ActorDb(file)
    try {
      expect(reopened.getRoot()).toMatchObject({ cid: cid('h4'), rev: '3kaaaaaaa0000' })
    } finally {
      reopened.close()
    }
  } finally {
    db.close()
  }
})
