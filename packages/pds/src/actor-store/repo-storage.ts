import { BlockMap, ReadableBlockstore, type CommitData, type RepoStorage } from '@atproto/repo'
import { parseCid, type Cid } from '@atproto/lex-data'
import type { ActorDb, ActorReader } from './actor-db.ts'
import type { CommitBlocks } from '../repo/commit.ts'

/**
 * @atproto/repo's read-only block access over an account's store (MST walks,
 * record proofs). Reads go straight to SQLite (synchronous, microseconds).
 * Only valid inside the `read`/`readStream`/`transact` callback that handed
 * out the store.
 */
export class SqlBlockReader extends ReadableBlockstore {
  protected readonly reader: ActorReader

  constructor(reader: ActorReader) {
    super()
    this.reader = reader
  }

  async getRoot(): Promise<Cid | null> {
    const root = this.reader.getRoot()
    return root ? parseCid(root.cid) : null
  }

  async getBytes(cid: Cid): Promise<Uint8Array | null> {
    return this.reader.getBlock(cid.toString()) ?? null
  }

  async has(cid: Cid): Promise<boolean> {
    return this.reader.hasBlock(cid.toString())
  }

  async getBlocks(cids: Cid[]): Promise<{ blocks: BlockMap; missing: Cid[] }> {
    const blocks = new BlockMap()
    const missing: Cid[] = []
    for (const cid of cids) {
      const bytes = this.reader.getBlock(cid.toString())
      if (bytes) blocks.set(cid, bytes)
      else missing.push(cid)
    }
    return { blocks, missing }
  }
}

/**
 * @atproto/repo storage with writes, for use inside `transact`. Writes
 * normally do not come through here: a commit is applied by `RepoWriter` in
 * one SQLite transaction together with the record index; these write
 * methods exist for completeness of the interface and are transactional too.
 */
export class SqlRepoStorage extends SqlBlockReader implements RepoStorage {
  private readonly db: ActorDb
  private readonly did: string

  constructor(db: ActorDb, did: string) {
    super(db)
    this.db = db
    this.did = did
  }

  async putBlock(cid: Cid, block: Uint8Array, rev: string): Promise<void> {
    this.db.transaction(() => this.db.putBlock(cid.toString(), block, rev))
  }

  async putMany(blocks: BlockMap, rev: string): Promise<void> {
    this.db.transaction(() => {
      for (const [cid, bytes] of blocks) this.db.putBlock(cid.toString(), bytes, rev)
    })
  }

  async updateRoot(cid: Cid, rev: string): Promise<void> {
    this.db.transaction(() => this.db.setRoot(this.did, cid.toString(), rev, new Date().toISOString()))
  }

  async applyCommit(commit: CommitData): Promise<void> {
    this.db.transaction(() => applyCommitBlocks(this.db, this.did, commit))
  }
}

/**
 * Blocks and root of a commit, in the caller's transaction, after the
 * commit's record rows are written (`ActorDb.applyBlocks`: a removed CID is
 * kept when the commit also adds it or a remaining record still is that
 * block, since identical records share one block and a commit's removed CIDs,
 * as @atproto/repo computes them per key, can name a block another record
 * still uses). For the commits that have no firehose event of their own (a
 * new repo, a storage-level commit); a write's commit defers its blocks
 * (`ActorDb.deferBlocks`).
 */
export const applyCommitBlocks = (db: ActorDb, did: string, commit: CommitBlocks): void => {
  db.applyBlocks(commit.rev, commit.newBlocks, Array.from(commit.removedCids, String))
  db.setRoot(did, commit.cid.toString(), commit.rev, new Date().toISOString())
}
