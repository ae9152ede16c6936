import Database from 'better-sqlite3'
import { immediateTransaction, parseCar, WalWriteback, type SqliteHandle } from '@atsuite/common'
import { CidRef, decodeCbor, isMap } from '@atsuite/common/dag-cbor'
import { HEAD_SQL, migrateActorDb, type BlobRow, type OutboxRow, type RecordRow, type RepoRootRow } from './db.ts'

type Stmt = Database.Statement

export type BlockRow = { cid: string; content: Buffer }
/**
 * A block's state after the commits whose block changes are not written yet
 * (`ActorDb.deferBlocks`): added (its bytes), or removed (its bytes when a
 * commit of the same batch had added it; whether it goes is decided when the
 * batch is written, see `settle`). `replaces`: added again after an earlier
 * commit of the batch removed it, so a row stored before the batch takes the
 * new rev, as deleting and inserting it commit by commit would have given it
 * (getRepo's `since` goes by a block's rev).
 */
type PendingBlock = { rev: string; bytes: Uint8Array | undefined; removed: boolean; replaces: boolean }

/** A batch of deferred block changes is written once it covers this many commits… */
export const SETTLE_COMMITS = 32
/** …or this many bytes of added blocks (what it holds in memory). */
const SETTLE_BYTES = 256 * 1024
/** The outbox ring's slots: a batch's commits and the newest commit before them. */
export const OUTBOX_SLOTS = SETTLE_COMMITS + 1
/**
 * One commit's block changes merged into `pending` (removals first: a CID the
 * commit both removes and adds stays, with its rev); returns the bytes added.
 */
const mergeCommitBlocks = (
  pending: Map<string, PendingBlock>,
  rev: string,
  added: Iterable<readonly [{ toString(): string }, Uint8Array]>,
  removed: string[],
): number => {
  for (const cid of removed) {
    const before = pending.get(cid)
    pending.set(cid, { rev: before?.rev ?? rev, bytes: before?.bytes, removed: true, replaces: before?.replaces ?? false })
  }
  const removedNow = removed.length > 0 ? new Set(removed) : undefined
  let bytesAdded = 0
  for (const [ref, bytes] of added) {
    const cid = ref.toString()
    const before = pending.get(cid)
    const replaces = (before?.removed === true && !removedNow?.has(cid)) || (before?.replaces ?? false)
    pending.set(cid, { rev, bytes, removed: false, replaces })
    bytesAdded += bytes.length
  }
  return bytesAdded
}

/** Blocks in stored order: `content` is every block's bytes back to back, `lengths[i]` long each. */
export type StoredBlockPage = { last: number; cids: string[]; lengths: number[]; content: Buffer }

const open = (location: string, autocheckpointPages?: number): SqliteHandle => {
  const db = new Database(location)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 5000')
  if (autocheckpointPages !== undefined) db.pragma(`wal_autocheckpoint = ${autocheckpointPages}`)
  try {
    migrateActorDb(db)
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

/**
 * The record table's key of a record URI, `at://<did>/<collection>/<rkey>`:
 * [collection, rkey], or null for anything not of that shape (no record has
 * it). Queries by URI also match the uri column, so a URI naming another DID
 * finds nothing, as before.
 */
const recordKey = (uri: string): [string, string] | null => {
  if (!uri.startsWith('at://')) return null
  const a = uri.indexOf('/', 5)
  if (a < 0) return null
  const b = uri.indexOf('/', a + 1)
  if (b < 0) return null
  return [uri.slice(a + 1, b), uri.slice(b + 1)]
}

/**
 * Read access to one account's SQLite store (what `ActorStore.read` hands
 * out). All methods are synchronous, and this file and db.ts hold the only
 * SQL over actor stores.
 */
export class ActorReader {
  protected readonly sqlite: SqliteHandle
  private stmts = new Map<string, Stmt>()
  /** the head as last read or written here (`HEAD_SQL`): null none, undefined not known */
  protected root: RepoRootRow | null | undefined
  /** blocks of commits whose block changes are not written yet, by CID (`ActorDb.deferBlocks`) */
  protected pending = new Map<string, PendingBlock>()

  protected constructor(sqlite: SqliteHandle) {
    this.sqlite = sqlite
  }

  protected prep(sql: string): Stmt {
    let s = this.stmts.get(sql)
    if (!s) {
      s = this.sqlite.prepare(sql)
      this.stmts.set(sql, s)
    }
    return s
  }

  protected closeHandle(): void {
    this.stmts.clear()
    if (this.sqlite.open) this.sqlite.close()
  }

  // repo root

  /**
   * The repo's head (`HEAD_SQL`: the newest commit's outbox row, or the
   * `repo_root` row). Kept after the first read: only this connection moves
   * it (`ActorDb.setRoot`, which updates the copy; a transaction that fails
   * forgets it), and a write would otherwise begin with a read transaction of
   * its own for it.
   */
  getRoot(): RepoRootRow | undefined {
    if (this.root === undefined) this.root = (this.prep(HEAD_SQL).get() as RepoRootRow | undefined) ?? null
    return this.root ?? undefined
  }

  /** Before a read of the block table beyond one CID: `ActorDb` writes the deferred block changes first. */
  protected beforeBlockScan(): void {}

  // firehose outbox

  /**
   * The outbox's #commit event when its commit is after `rev` (none or one:
   * each commit's event is sequenced before the next commit begins, so only
   * the newest row of the `outbox` table can be missing from the log).
   */
  outboxAfter(rev: string): OutboxRow[] {
    return this.prep('SELECT rev, seq, body FROM outbox WHERE n = (SELECT max(n) FROM outbox) AND rev > ?').all(
      rev,
    ) as OutboxRow[]
  }

  // blocks

  /**
   * What the deferred block changes say of one block: its bytes, null when it
   * goes, undefined when the block table decides (not among them, or removed
   * but kept because a record still is it, as `settle` decides, with no bytes
   * of a commit of the batch).
   */
  private pendingBlock(cid: string): Uint8Array | null | undefined {
    const p = this.pending.get(cid)
    if (!p) return undefined
    if (p.removed && !this.recordUsesCid(cid)) return null
    return p.bytes
  }

  getBlock(cid: string): Buffer | undefined {
    const p = this.pendingBlock(cid)
    if (p === null) return undefined
    if (p) return Buffer.from(p.buffer, p.byteOffset, p.byteLength)
    const row = this.prep('SELECT content FROM repo_block WHERE cid = ?').get(cid) as
      | { content: Buffer }
      | undefined
    return row?.content
  }

  hasBlock(cid: string): boolean {
    const p = this.pendingBlock(cid)
    if (p !== undefined) return p !== null
    return this.prep('SELECT 1 FROM repo_block WHERE cid = ?').get(cid) !== undefined
  }

  /**
   * One keyset page of the blocks written after `sinceRev`, in CID order,
   * after `afterCid` ('' for the first page).
   */
  blockPageSince(sinceRev: string, afterCid: string, limit: number): BlockRow[] {
    this.beforeBlockScan()
    return this.prep('SELECT cid, content FROM repo_block WHERE repoRev > ? AND cid > ? ORDER BY cid LIMIT ?').all(
      sinceRev,
      afterCid,
      limit,
    ) as BlockRow[]
  }

  /**
   * One keyset page of all blocks in the order they are stored (rowid), after
   * `afterRowid` (0 for the first page), as ONE buffer of their contents back
   * to back with each block's CID and length: null past the last block.
   *
   * The table is read front to back (in CID order each row was a lookup from
   * the CID index into the table at a random place), and SQLite joins the
   * contents (`group_concat` copies a blob's bytes as they are in a UTF-8
   * database; CAST gives them back as a blob): a buffer per block cost ~3.6 µs
   * each in allocation and GC, most of getRepo's time (100,000 records:
   * 1.15 s in CID order, 0.79 s in rowid order, ~0.25 s joined).
   */
  blockPageStored(afterRowid: number, limit: number): StoredBlockPage | null {
    this.beforeBlockScan()
    const row = this.prep(
      `SELECT max(r) AS last, group_concat(cid, ' ' ORDER BY r) AS cids, group_concat(len, ',' ORDER BY r) AS lens,
              CAST(group_concat(content, '' ORDER BY r) AS BLOB) AS content
       FROM (SELECT rowid AS r, cid, length(content) AS len, content FROM repo_block WHERE rowid > ? ORDER BY rowid LIMIT ?)`,
    ).get(afterRowid, limit) as { last: number | null; cids: string; lens: string; content: Buffer | null }
    if (row.last === null) return null
    const cids = row.cids.split(' ')
    const lengths = row.lens.split(',').map(Number)
    const content = row.content ?? Buffer.alloc(0)
    let total = 0
    for (const n of lengths) total += n
    // a database in another text encoding would have converted the bytes: refuse rather than corrupt
    if (cids.length !== lengths.length || total !== content.length) throw new Error('block page: contents do not add up')
    return { last: row.last, cids, lengths, content }
  }

  // records

  getRecord(uri: string): RecordRow | undefined {
    const key = recordKey(uri)
    if (!key) return undefined
    return this.prep('SELECT * FROM record WHERE collection = ? AND rkey = ? AND uri = ?').get(key[0], key[1], uri) as
      | RecordRow
      | undefined
  }

  listRecords(collection: string, limit: number, cursor: string | undefined, reverse: boolean): RecordRow[] {
    // default order is newest first (rkey descending), as the reference does
    if (reverse) {
      return this.prep(
        'SELECT * FROM record WHERE collection = ? AND rkey > ? ORDER BY rkey ASC LIMIT ?',
      ).all(collection, cursor ?? '', limit) as RecordRow[]
    }
    if (cursor !== undefined) {
      return this.prep(
        'SELECT * FROM record WHERE collection = ? AND rkey < ? ORDER BY rkey DESC LIMIT ?',
      ).all(collection, cursor, limit) as RecordRow[]
    }
    return this.prep('SELECT * FROM record WHERE collection = ? ORDER BY rkey DESC LIMIT ?').all(
      collection,
      limit,
    ) as RecordRow[]
  }

  /**
   * Records of `collections` written after `rev` (created or updated), newest
   * first, with their block bytes: what an app view at `rev` has not seen yet.
   */
  recordsSinceRev(rev: string, collections: string[], limit: number): (RecordRow & { content: Buffer })[] {
    if (collections.length === 0) return []
    this.beforeBlockScan()
    const marks = collections.map(() => '?').join(', ')
    return this.prep(
      // through the rev index (the unary + keeps SQLite off the key's collection prefix, which
      // would read every record of those collections): what is newer than rev is a few rows
      `SELECT r.*, b.content FROM record r JOIN repo_block b ON b.cid = r.cid
       WHERE r.repoRev > ? AND +r.collection IN (${marks}) ORDER BY r.repoRev DESC LIMIT ?`,
    ).all(rev, ...collections, limit) as (RecordRow & { content: Buffer })[]
  }

  /** True when some record of this repo is the block `cid` (identical records share one). */
  recordUsesCid(cid: string): boolean {
    return this.prep('SELECT 1 FROM record WHERE cid = ? LIMIT 1').get(cid) !== undefined
  }

  /** Whether any record was last written at or before `rev`. */
  hasRecordsAtOrBefore(rev: string): boolean {
    return this.prep('SELECT 1 FROM record WHERE repoRev <= ? LIMIT 1').get(rev) !== undefined
  }

  listCollections(): string[] {
    // one key search per collection (a skip scan), not a read of every record
    return (this.prep(
      `WITH RECURSIVE c(collection) AS (
         SELECT min(collection) FROM record
         UNION ALL
         SELECT (SELECT min(collection) FROM record WHERE collection > c.collection) FROM c WHERE c.collection IS NOT NULL
       )
       SELECT collection FROM c WHERE collection IS NOT NULL`,
    ).all() as { collection: string }[]).map((r) => r.collection)
  }

  countRecords(): number {
    return (this.prep('SELECT count(*) AS n FROM record').get() as { n: number }).n
  }

  /** Sizes checkAccountStatus reports (e.g. during a migration). */
  stats(): { blocks: number; records: number; prefs: number; expectedBlobs: number; importedBlobs: number } {
    const count = (sql: string) => (this.prep(sql).get() as { n: number }).n
    this.beforeBlockScan()
    return {
      blocks: count('SELECT count(*) AS n FROM repo_block'),
      records: count('SELECT count(*) AS n FROM record'),
      prefs: count('SELECT count(*) AS n FROM account_pref'),
      expectedBlobs: count('SELECT count(DISTINCT blobCid) AS n FROM record_blob'),
      importedBlobs: count('SELECT count(*) AS n FROM blob WHERE tempKey IS NULL'),
    }
  }

  // blobs

  getBlob(cid: string): BlobRow | undefined {
    return this.prep('SELECT * FROM blob WHERE cid = ?').get(cid) as BlobRow | undefined
  }

  listBlobs(sinceRev: string | undefined, limit: number, cursor: string | undefined): string[] {
    if (sinceRev) {
      return (this.prep(
        // records newer than the rev first (rev index), then their blob links (CROSS JOIN keeps that order)
        `SELECT DISTINCT rb.blobCid AS cid FROM record r CROSS JOIN record_blob rb ON rb.recordUri = r.uri
         WHERE r.repoRev > ? AND rb.blobCid > ? ORDER BY rb.blobCid LIMIT ?`,
      ).all(sinceRev, cursor ?? '', limit) as { cid: string }[]).map((r) => r.cid)
    }
    return (this.prep(
      'SELECT DISTINCT blobCid AS cid FROM record_blob WHERE blobCid > ? ORDER BY blobCid LIMIT ?',
    ).all(cursor ?? '', limit) as { cid: string }[]).map((r) => r.cid)
  }

  /** Blobs records reference that were never uploaded here (an imported repo's), in CID order. */
  listMissingBlobs(limit: number, cursor: string | undefined): { cid: string; recordUri: string }[] {
    return this.prep(
      `SELECT rb.blobCid AS cid, min(rb.recordUri) AS recordUri FROM record_blob rb
       WHERE rb.blobCid > ? AND NOT EXISTS (SELECT 1 FROM blob b WHERE b.cid = rb.blobCid)
       GROUP BY rb.blobCid ORDER BY rb.blobCid LIMIT ?`,
    ).all(cursor ?? '', limit) as { cid: string; recordUri: string }[]
  }

  /** Whether any record cites the blob. */
  isBlobReferenced(cid: string): boolean {
    return this.prep('SELECT 1 FROM record_blob WHERE blobCid = ? LIMIT 1').get(cid) !== undefined
  }

  /** Uploads still under a temp key that a record references (after an import): to be made permanent. */
  referencedTempBlobs(): { cid: string; tempKey: string }[] {
    return this.prep(
      `SELECT cid, tempKey FROM blob WHERE tempKey IS NOT NULL
       AND EXISTS (SELECT 1 FROM record_blob rb WHERE rb.blobCid = blob.cid)`,
    ).all() as { cid: string; tempKey: string }[]
  }

  expiredTempBlobs(before: string): BlobRow[] {
    return this.prep(
      `SELECT * FROM blob WHERE tempKey IS NOT NULL AND createdAt < ?
       AND NOT EXISTS (SELECT 1 FROM record_blob rb WHERE rb.blobCid = blob.cid)`,
    ).all(before) as BlobRow[]
  }

  /** Whether any upload is still waiting for a record to reference it. */
  hasTempBlobs(): boolean {
    return this.prep('SELECT 1 FROM blob WHERE tempKey IS NOT NULL LIMIT 1').get() !== undefined
  }

  // preferences

  getPreferences(): { name: string; valueJson: string }[] {
    return this.prep('SELECT name, valueJson FROM account_pref ORDER BY id').all() as {
      name: string
      valueJson: string
    }[]
  }
}

/**
 * One account's SQLite store with write access (what `ActorStore.transact`
 * hands out; only the store opens and closes it). Callers group writes with
 * `transaction()`.
 */
export class ActorDb extends ActorReader {
  private readonly onCommit: (() => void) | undefined
  private readonly writeback: WalWriteback | undefined
  /** B-tree pages the open transaction is likely to have changed: two a block, three a record row (the row and its two indexes), one an outbox row */
  private pagesTouched = 0
  /** commits in `pending`, and the bytes of the blocks they add */
  private pendingCommits = 0
  private pendingBytes = 0
  /** the outbox slot and count the next commit's row gets (undefined: not looked up yet) */
  private nextSlot: { slot: number; n: number } | undefined

  /**
   * `onCommit` is told after each transaction that committed;
   * `autocheckpointPages` is the writer's own checkpoint bound (SQLite's
   * default, 1,000 pages, when unset); with `writebackPages`, the WAL is
   * synced off the thread about every that many pages logged (common's
   * `WalWriteback`), so the checkpoint that crosses the bound waits less.
   */
  constructor(location: string, opts: { onCommit?: () => void; autocheckpointPages?: number; writebackPages?: number } = {}) {
    super(open(location, opts.autocheckpointPages))
    this.onCommit = opts.onCommit
    this.writeback = opts.writebackPages ? new WalWriteback(location, opts.writebackPages) : undefined
  }

  /**
   * fn in one IMMEDIATE transaction (common's `immediateTransaction`: once
   * per commit, so no wrapper built per call); inside another transaction, a
   * savepoint, as better-sqlite3's wrapper makes.
   */
  transaction<T>(fn: () => T, opts: { keepDeferred?: boolean } = {}): T {
    if (this.sqlite.inTransaction) return this.sqlite.transaction(fn)()
    // deferred block changes go in first (this transaction may read or change blocks), except
    // for a commit's own transaction while the outbox ring holds every row they are redone from
    if (!opts.keepDeferred || this.pendingCommits >= SETTLE_COMMITS) this.settle()
    let out: T
    try {
      out = immediateTransaction(this.sqlite, fn)
    } catch (err) {
      // rolled back: a root or outbox row written inside it never happened
      this.root = undefined
      this.nextSlot = undefined
      this.pagesTouched = 0
      throw err
    }
    // the file header, besides what the statements touched
    this.writeback?.note(this.pagesTouched + 1)
    this.pagesTouched = 0
    this.onCommit?.()
    return out
  }

  /**
   * Writes the blocks still deferred and closes. Never throws for them: blocks
   * that cannot be written now are redone from the outbox when the store is
   * next opened (closing runs on eviction, inside another account's request).
   */
  close(): void {
    try {
      if (this.pendingCommits > 0 && this.sqlite.open) this.settle()
    } catch {
      this.dropPending()
    } finally {
      this.closeHandle()
    }
  }

  // a commit's blocks, after its answer, in batches

  /**
   * Right after the transaction of a commit that moved the head with
   * `setRoot(…, outbox)` (in `transaction(…, { keepDeferred: true })`): its
   * blocks (`added`; the outbox event carries them all) and the CIDs it
   * removed (`removed`, kept in the outbox row too) join the block changes
   * not written yet, which `settle()` writes in one transaction, once a batch
   * is due (`settleIfDue`, after the answer) or before any other use of the
   * block table. The writer answers in between: the commit is durable from
   * its own transaction, which wrote the record index, the head and its
   * outbox row. Until then reads of one block see these (`getBlock`,
   * `hasBlock`), and a crash leaves a head whose commit block is not stored
   * yet, which opening the store redoes from the outbox rows
   * (`redoDeferredBlocks`). A block added and removed again within one batch
   * (the nodes of the MST's right edge, rewritten by every new record) is
   * never written.
   */
  deferBlocks(rev: string, added: Iterable<readonly [{ toString(): string }, Uint8Array]>, removed: string[]): void {
    this.pendingBytes += mergeCommitBlocks(this.pending, rev, added, removed)
    this.pendingCommits++
  }

  /** Writes the deferred block changes when a batch is due (`SETTLE_COMMITS` commits or `SETTLE_BYTES` bytes of blocks). */
  settleIfDue(): void {
    if (this.pendingCommits >= SETTLE_COMMITS || this.pendingBytes >= SETTLE_BYTES) this.settle()
  }

  /**
   * Writes the deferred block changes, if any (nothing to do is one field's
   * check), in one transaction, which records every outbox row as done
   * (`blocksN`: rows up to it are not redone); on failure they stay deferred
   * and the error is thrown. Never inside another transaction: a rollback of
   * that one would undo the blocks after they left memory.
   */
  settle(): void {
    if (this.pendingCommits === 0) return
    if (this.sqlite.inTransaction) throw new Error("a commit's deferred blocks cannot be written inside another transaction")
    const pending = this.pending
    const commits = this.pendingCommits
    const bytes = this.pendingBytes
    this.dropPending()
    try {
      this.transaction(() => {
        this.applyPending(pending)
        this.markOutboxDone()
      })
    } catch (err) {
      this.pending = pending
      this.pendingCommits = commits
      this.pendingBytes = bytes
      throw err
    }
  }

  /**
   * Every outbox row's blocks are in the block table, and `repo_root` holds
   * the head (`HEAD_SQL` over the rows as they were: the newest outbox row's
   * commit when that row was the head).
   */
  private markOutboxDone(): void {
    this.pagesTouched += 1
    this.prep(
      `UPDATE repo_root SET (cid, rev, indexedAt) = (SELECT cid, rev, indexedAt FROM (${HEAD_SQL})),
       blocksN = (SELECT max(n) FROM outbox)`,
    ).run()
  }

  private dropPending(): void {
    this.pending = new Map()
    this.pendingCommits = 0
    this.pendingBytes = 0
  }

  protected override beforeBlockScan(): void {
    this.settle()
  }

  /**
   * The blocks' states after one commit or a batch of them: the added ones
   * in, the removed ones out unless a record still is the block (identical
   * records share one, and a commit's removed CIDs, as @atproto/repo computes
   * them per key, can name a block another record still uses; the record rows
   * are written before this).
   */
  private applyPending(pending: Map<string, PendingBlock>): void {
    for (const [cid, p] of pending) {
      if (!p.removed) {
        if (p.replaces) this.replaceBlock(cid, p.bytes!, p.rev)
        else this.putBlock(cid, p.bytes!, p.rev)
      } else if (!this.recordUsesCid(cid)) this.deleteBlock(cid)
      else if (p.bytes) this.putBlock(cid, p.bytes, p.rev)
    }
  }

  /** A commit's blocks, written now in the caller's transaction (`applyPending`'s rules, for one commit). */
  applyBlocks(rev: string, added: Iterable<readonly [{ toString(): string }, Uint8Array]>, removed: string[]): void {
    const one = new Map<string, PendingBlock>()
    mergeCommitBlocks(one, rev, added, removed)
    this.applyPending(one)
  }

  /**
   * After a crash between commits' transactions and the `settle()` of their
   * blocks: the head names a commit block the store does not have, and the
   * outbox rows after `blocksN` (one per commit since the last batch was
   * written) carry each commit's event, whose CAR holds every block the
   * commit added (and its proof blocks, stored already), and the CIDs it
   * removed. Redoing them in order gives the blocks that writing them as a
   * batch would have. The store calls this when it opens the file, before
   * any other use. Returns the revs it redid, or null when nothing was
   * missing.
   */
  redoDeferredBlocks(): string[] | null {
    const root = this.getRoot()
    if (!root || this.hasBlock(root.cid)) return null
    const rows = this.prep(
      'SELECT rev, body, removed FROM outbox WHERE n > coalesce((SELECT blocksN FROM repo_root), 0) ORDER BY n',
    ).all() as {
      rev: string
      body: Buffer
      removed: string | null
    }[]
    // only a write's commit defers its blocks, and it always leaves its row in the outbox
    if (rows.at(-1)?.rev !== root.rev) return null
    for (const row of rows) {
      const body = decodeCbor(row.body)
      const car = isMap(body) ? body.blocks : undefined
      if (!(car instanceof Uint8Array)) throw new Error(`repo store of ${root.did}: the outbox event of rev ${row.rev} carries no blocks`)
      const blocks: [string, Uint8Array][] = []
      for (const [key, bytes] of parseCar(car).blocks) blocks.push([new CidRef(Buffer.from(key, 'latin1')).toString(), bytes])
      this.deferBlocks(row.rev, blocks, row.removed ? row.removed.split(' ') : [])
    }
    if (!this.hasBlock(root.cid)) {
      this.dropPending()
      throw new Error(`repo store of ${root.did}: the outbox event of rev ${root.rev} lacks its commit block ${root.cid}`)
    }
    this.settle()
    return rows.map((r) => r.rev)
  }

  // repo root

  /**
   * Moves the head. With `outbox` (a commit's transaction): the commit's
   * #commit event, with the seq it is expected to get, and the CIDs it
   * removes become the outbox's newest row, in the ring slot after the
   * newest (the event of the commit before was sequenced before this one
   * began; the slot's old row is a commit older than a batch, whose blocks
   * are written: `transaction` sees to it). That row names the commit and is
   * the head from then on (`HEAD_SQL`): the `repo_root` row moves with the
   * next batch of blocks (`markOutboxDone`), so a commit logs one page fewer.
   * Without (an import, a re-signing, a new repo, whose blocks the same
   * transaction writes): the `repo_root` row is the head, the outbox stays as
   * it was, and none of its rows is to be redone.
   */
  setRoot(did: string, cid: string, rev: string, now: string, outbox?: { seq: number; body: Uint8Array; removed?: string[] }): void {
    // a commit's own row is the head, once the repo has a head row at all
    if (!outbox || !this.getRoot()) {
      this.pagesTouched += 1
      this.prep(
        `INSERT INTO repo_root (did, cid, rev, indexedAt) VALUES (?, ?, ?, ?)
         ON CONFLICT (did) DO UPDATE SET cid = excluded.cid, rev = excluded.rev, indexedAt = excluded.indexedAt`,
      ).run(did, cid, rev, now)
    }
    if (outbox) {
      const { slot, n } = this.nextSlot ?? this.slotAfterNewest()
      this.prep(
        `INSERT INTO outbox (slot, n, rev, seq, body, removed, cid, indexedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (slot) DO UPDATE SET n = excluded.n, rev = excluded.rev, seq = excluded.seq, body = excluded.body,
           removed = excluded.removed, cid = excluded.cid, indexedAt = excluded.indexedAt`,
      ).run(slot, n, rev, outbox.seq, outbox.body, outbox.removed?.length ? outbox.removed.join(' ') : null, cid, now)
      this.pagesTouched += 1
      this.nextSlot = { slot: (slot + 1) % OUTBOX_SLOTS, n: n + 1 }
    } else {
      // none of the ring's rows is to be redone over the blocks this transaction writes, nor is the head
      this.prep('UPDATE repo_root SET blocksN = (SELECT max(n) FROM outbox)').run()
    }
    this.root = Object.freeze({ did, cid, rev, indexedAt: now })
  }

  private slotAfterNewest(): { slot: number; n: number } {
    const row = this.prep('SELECT slot, n FROM outbox ORDER BY n DESC LIMIT 1').get() as { slot: number; n: number } | undefined
    return row ? { slot: (row.slot + 1) % OUTBOX_SLOTS, n: row.n + 1 } : { slot: 0, n: 1 }
  }

  // firehose outbox

  /** The seq an event got when it was sequenced later than expected. */
  setOutboxSeq(rev: string, seq: number): void {
    this.prep('UPDATE outbox SET seq = ? WHERE rev = ?').run(seq, rev)
  }

  // blocks

  putBlock(cid: string, bytes: Uint8Array, rev: string): void {
    this.pagesTouched += 2
    this.prep(
      'INSERT INTO repo_block (cid, repoRev, size, content) VALUES (?, ?, ?, ?) ON CONFLICT (cid) DO NOTHING',
    ).run(cid, rev, bytes.length, bytes)
  }

  /** A block stored again by a later commit than the one that stored it: it takes that commit's rev. */
  private replaceBlock(cid: string, bytes: Uint8Array, rev: string): void {
    this.pagesTouched += 2
    this.prep(
      'INSERT INTO repo_block (cid, repoRev, size, content) VALUES (?, ?, ?, ?) ON CONFLICT (cid) DO UPDATE SET repoRev = excluded.repoRev',
    ).run(cid, rev, bytes.length, bytes)
  }

  deleteBlock(cid: string): void {
    this.pagesTouched += 2
    this.prep('DELETE FROM repo_block WHERE cid = ?').run(cid)
  }

  // records

  putRecord(row: RecordRow): void {
    this.pagesTouched += 3
    this.prep(
      `INSERT INTO record (uri, cid, collection, rkey, repoRev, indexedAt) VALUES (@uri, @cid, @collection, @rkey, @repoRev, @indexedAt)
       ON CONFLICT (collection, rkey) DO UPDATE SET cid = excluded.cid, repoRev = excluded.repoRev, indexedAt = excluded.indexedAt`,
    ).run(row)
  }

  deleteRecord(uri: string): void {
    this.pagesTouched += 3
    const key = recordKey(uri)
    if (key) this.prep('DELETE FROM record WHERE collection = ? AND rkey = ? AND uri = ?').run(key[0], key[1], uri)
  }

  // blobs

  insertBlob(row: BlobRow): void {
    // a re-upload of a blob that is already stored keeps it permanent
    this.prep(
      `INSERT INTO blob (cid, mimeType, size, tempKey, createdAt) VALUES (@cid, @mimeType, @size, @tempKey, @createdAt)
       ON CONFLICT (cid) DO UPDATE SET tempKey = CASE WHEN blob.tempKey IS NULL THEN NULL ELSE excluded.tempKey END,
         createdAt = CASE WHEN blob.tempKey IS NULL THEN blob.createdAt ELSE excluded.createdAt END`,
    ).run(row)
  }

  /** A pending upload sent again: its grace period starts over. */
  touchTempBlob(cid: string, now: string): void {
    this.prep('UPDATE blob SET createdAt = ? WHERE cid = ? AND tempKey IS NOT NULL').run(now, cid)
  }

  markBlobPermanent(cid: string): void {
    this.prep('UPDATE blob SET tempKey = NULL WHERE cid = ?').run(cid)
  }

  deleteBlob(cid: string): void {
    this.prep('DELETE FROM blob WHERE cid = ?').run(cid)
  }

  /** Deletes a blob's row if no record references it; true when deleted. */
  removeUnreferencedBlob(cid: string): boolean {
    if (this.isBlobReferenced(cid)) return false
    return this.prep('DELETE FROM blob WHERE cid = ?').run(cid).changes > 0
  }

  addRecordBlob(blobCid: string, recordUri: string): void {
    this.prep('INSERT INTO record_blob (blobCid, recordUri) VALUES (?, ?) ON CONFLICT DO NOTHING').run(
      blobCid,
      recordUri,
    )
  }

  /** Removes a record's blob links; returns the blobs it referenced. */
  removeRecordBlobs(recordUri: string): string[] {
    const cids = (this.prep('SELECT blobCid FROM record_blob WHERE recordUri = ?').all(recordUri) as {
      blobCid: string
    }[]).map((r) => r.blobCid)
    if (cids.length === 0) return []
    this.prep('DELETE FROM record_blob WHERE recordUri = ?').run(recordUri)
    return cids
  }

  // import (repo/import.ts)

  /**
   * Replaces the repo by a staged import in one transaction: blocks the new
   * repo does not reach go, its new blocks come in, the record index and blob
   * links become the staged ones (a record whose CID is unchanged keeps its
   * rev), the root moves. The staging file has tables block(cid, content),
   * keep(cid), leaf(uri, cid, collection, rkey), leaf_blob(blobCid, uri).
   */
  importStaged(
    stagePath: string,
    root: { did: string; cid: string; rev: string; now: string },
  ): { changedRecords: number; removedRecords: number } {
    this.sqlite.prepare('ATTACH DATABASE ? AS stage').run(stagePath)
    try {
      return this.transaction(() => {
        const run = (sql: string, ...params: unknown[]) => this.sqlite.prepare(sql).run(...params).changes
        run('DELETE FROM repo_block WHERE cid NOT IN (SELECT cid FROM stage.keep)')
        run(
          `INSERT INTO repo_block (cid, repoRev, size, content)
           SELECT b.cid, ?, length(b.content), b.content FROM stage.block b JOIN stage.keep k ON k.cid = b.cid
           WHERE true ON CONFLICT (cid) DO NOTHING`,
          root.rev,
        )
        const removedRecords = run('DELETE FROM record WHERE uri NOT IN (SELECT uri FROM stage.leaf)')
        const changedRecords = run(
          `INSERT INTO record (uri, cid, collection, rkey, repoRev, indexedAt)
           SELECT uri, cid, collection, rkey, ?, ? FROM stage.leaf WHERE true
           ON CONFLICT (collection, rkey) DO UPDATE SET cid = excluded.cid, repoRev = excluded.repoRev, indexedAt = excluded.indexedAt
           WHERE record.cid != excluded.cid`,
          root.rev,
          root.now,
        )
        run('DELETE FROM record_blob')
        run('INSERT INTO record_blob (blobCid, recordUri) SELECT blobCid, uri FROM stage.leaf_blob')
        this.setRoot(root.did, root.cid, root.rev, root.now)
        return { changedRecords, removedRecords }
      })
    } finally {
      this.sqlite.prepare('DETACH DATABASE stage').run()
    }
  }

  // preferences

  replacePreferences(namespace: string, prefs: { name: string; valueJson: string }[]): void {
    this.transaction(() => {
      this.prep("DELETE FROM account_pref WHERE name = ? OR name LIKE ? ESCAPE '\\'").run(
        namespace,
        namespace.replace(/[%_\\]/g, '\\$&') + '.%',
      )
      const ins = this.prep('INSERT INTO account_pref (name, valueJson) VALUES (?, ?)')
      for (const p of prefs) ins.run(p.name, p.valueJson)
    })
  }
}
