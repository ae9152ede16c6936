import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import { existsSync } from 'node:fs'
import path from 'node:path'
import type { Secp256k1Keypair } from '@atproto/crypto'
import { RepoSigningKey } from './signing-key.ts'
import type { RepoHead } from '../repo/commit.ts'
import { SELF_CHECKPOINT_PAGES, SELF_CHECKPOINT_WRITEBACK_PAGES, type StoreCheckpointer } from '@atsuite/common'
import { ActorDb, type ActorReader } from './actor-db.ts'
import { repoLogger } from '../logger.ts'

export type { ActorDb, ActorReader } from './actor-db.ts'

export class ActorStoreNotFoundError extends Error {}

type Entry = {
  did: string
  dbPath: string
  db: ActorDb
  /** read/transact callbacks and streams using the handle right now */
  users: number
  /** out of the cache (account destroyed, or store shut down): closed when its last user is done */
  detached: boolean
  keypair?: RepoSigningKey
  head?: RepoHead
}

/**
 * Each account's repo lives in `<dir>/<2 hex of sha256(did)>/<did>/store.sqlite`
 * with its signing key beside it in `key` (hex). Nothing outside this
 * directory holds a store handle: access is scoped to a callback,
 * `read(did, fn)` / `readStream(did, fn)` for reads and `transact(did, fn)`
 * for writes. `transact` serialises all writes of one account (a commit
 * reads the current root, so two concurrent commits of one repo must not
 * interleave); different accounts, and reads, proceed in parallel.
 *
 * Open handles are cached, least recently used first out, `cacheSize` at
 * most, except that a store in use by a callback or stream is never closed:
 * the cache may run over while many are in use, and shrinks back as their
 * users finish.
 */
export class ActorStore {
  readonly directory: string
  private readonly cacheSize: number
  private open = new Map<string, Entry>()
  private locks = new Map<string, Promise<unknown>>()
  /** accounts whose files are being removed: not to be reopened meanwhile */
  private destroying = new Set<string>()
  private readonly checkpointer: StoreCheckpointer | undefined

  /**
   * With a `checkpointer`, a store's writes never wait for its log to be copied
   * into the file: the checkpointer's thread does that for every store written
   * (the writer's own automatic checkpoint stays only as a bound). Without one
   * (the default), each store's writer copies its log back every
   * SELF_CHECKPOINT_PAGES (~16 MiB): a copy and two fsyncs inside the commit
   * that crosses it, and no thread (~20 MiB of RSS) in the process. Its log
   * is synced off the thread about every SELF_CHECKPOINT_WRITEBACK_PAGES on the way
   * (common's `WalWriteback`), so that commit's fsync of the log has little
   * left to write.
   */
  constructor(directory: string, opts: { cacheSize?: number; checkpointer?: StoreCheckpointer } = {}) {
    this.directory = directory
    this.cacheSize = opts.cacheSize ?? 500
    this.checkpointer = opts.checkpointer
  }

  /** The checkpoint thread's figures (undefined when stores checkpoint themselves). */
  get checkpointStats() {
    return this.checkpointer?.stats
  }

  location(did: string): { dir: string; dbPath: string; keyPath: string } {
    const shard = createHash('sha256').update(did).digest('hex').slice(0, 2)
    const dir = path.join(this.directory, shard, did)
    return { dir, dbPath: path.join(dir, 'store.sqlite'), keyPath: path.join(dir, 'key') }
  }

  exists(did: string): boolean {
    if (this.destroying.has(did)) return false
    return this.open.has(did) || existsSync(this.location(did).dbPath)
  }

  /** How many store handles are open (cached or in use). */
  get openCount(): number {
    return this.open.size
  }

  /** Creates the store and writes the signing key (fsynced before use). */
  async create(did: string, keypair: Secp256k1Keypair): Promise<void> {
    const { dir, keyPath } = this.location(did)
    await fs.mkdir(dir, { recursive: true })
    const key = Buffer.from(await keypair.export()).toString('hex')
    const fh = await fs.open(keyPath, 'w', 0o600)
    try {
      await fh.writeFile(key)
      await fh.sync()
    } finally {
      await fh.close()
    }
    const signingKey = await RepoSigningKey.fromKeypair(keypair)
    const entry = this.acquire(did, true)
    entry.keypair = signingKey
    this.release(entry)
  }

  /**
   * Runs fn with read access to one account's store; the store stays open
   * until fn returns or, when fn returns a promise, until it settles. A sync
   * fn gives a sync result. Reads do not wait for writes: every commit is one
   * synchronous SQLite transaction, so a read sees whole commits only (though
   * an async fn may see different commits before and after an await).
   */
  read<T>(did: string, fn: (db: ActorReader) => Promise<T>): Promise<T>
  read<T>(did: string, fn: (db: ActorReader) => T): T
  read<T>(did: string, fn: (db: ActorReader) => T | Promise<T>): T | Promise<T> {
    const entry = this.acquire(did)
    let result: T | Promise<T>
    try {
      result = fn(entry.db)
    } catch (err) {
      this.release(entry)
      throw err
    }
    if (result instanceof Promise) return result.finally(() => this.release(entry))
    this.release(entry)
    return result
  }

  /**
   * Read access for as long as the returned iterable is consumed: the store
   * is opened at the first `next()` and released when the iteration ends,
   * throws, or is abandoned through `return()` (what a destroyed
   * `Readable.from` does, e.g. when the client of a streamed response goes
   * away). An iterable never iterated never opens the store.
   */
  async *readStream<T>(did: string, fn: (db: ActorReader) => AsyncIterable<T>): AsyncGenerator<T, void, undefined> {
    const entry = this.acquire(did)
    try {
      yield* fn(entry.db)
    } finally {
      this.release(entry)
    }
  }

  /**
   * Runs fn with exclusive write access to one account's store: writes of one
   * account run one after another, in call order. Not reentrant (a transact
   * inside a transact of the same account waits for itself forever).
   */
  async transact<T>(did: string, fn: (db: ActorDb) => T | Promise<T>): Promise<T> {
    const prev = this.locks.get(did) ?? Promise.resolve()
    let unlock!: () => void
    const mine = new Promise<void>((resolve) => (unlock = resolve))
    const chained = prev.then(() => mine)
    this.locks.set(did, chained)
    await prev
    try {
      const entry = this.acquire(did)
      try {
        return await fn(entry.db)
      } finally {
        this.release(entry)
      }
    } finally {
      unlock()
      if (this.locks.get(did) === chained) this.locks.delete(did)
    }
  }

  /** The account's repo signing key (read from disk once per opening of the store). */
  async keypair(did: string): Promise<RepoSigningKey> {
    const entry = this.acquire(did)
    try {
      if (!entry.keypair) {
        const hex = (await fs.readFile(this.location(did).keyPath, 'utf8')).trim()
        entry.keypair = await RepoSigningKey.fromHex(hex)
      }
      return entry.keypair
    } finally {
      this.release(entry)
    }
  }

  /** The cached head of an open store (see repo/commit.ts); only valid while it matches the stored root. */
  head(did: string): RepoHead | undefined {
    return this.open.get(did)?.head
  }

  setHead(did: string, head: RepoHead | undefined): void {
    const entry = this.open.get(did)
    if (entry) entry.head = head
  }

  /**
   * Removes the account's store and key. Waits for the account's writes in
   * flight; reads in flight keep their (now unlinked) files until they finish,
   * and new ones fail with ActorStoreNotFoundError.
   */
  async destroy(did: string): Promise<void> {
    await this.transact(did, async () => {
      this.destroying.add(did)
      const entry = this.open.get(did)
      if (entry) this.detach(entry)
    }).catch((err) => {
      if (!(err instanceof ActorStoreNotFoundError)) throw err
    })
    const { dir, dbPath } = this.location(did)
    try {
      await this.checkpointer?.forget(dbPath)
      await fs.rm(dir, { recursive: true, force: true })
    } finally {
      this.destroying.delete(did)
    }
  }

  /** Closes every store (one still in use closes when its user is done) and the checkpoint thread. */
  async close(): Promise<void> {
    for (const entry of [...this.open.values()]) this.detach(entry)
    await this.checkpointer?.close()
  }

  private acquire(did: string, allowCreate = false): Entry {
    let entry = this.open.get(did)
    if (entry) {
      // most recently used last
      this.open.delete(did)
      this.open.set(did, entry)
      entry.users++
      return entry
    }
    const { dbPath } = this.location(did)
    if (this.destroying.has(did) || (!allowCreate && !existsSync(dbPath))) {
      throw new ActorStoreNotFoundError(`no repo stored for ${did}`)
    }
    const checkpointer = this.checkpointer
    const db = checkpointer
      ? new ActorDb(dbPath, { onCommit: () => checkpointer.touch(dbPath), autocheckpointPages: 10_000 })
      : new ActorDb(dbPath, { autocheckpointPages: SELF_CHECKPOINT_PAGES, writebackPages: SELF_CHECKPOINT_WRITEBACK_PAGES })
    try {
      // a commit whose blocks a crash kept from being written: before anything reads the store
      const redone = db.redoDeferredBlocks()
      if (redone) {
        repoLogger.info(
          { did, commits: redone.length, fromRev: redone[0], toRev: redone.at(-1) },
          "wrote the blocks of commits a crash had cut short, from their outbox events",
        )
      }
    } catch (err) {
      db.close()
      throw err
    }
    entry = { did, dbPath, db, users: 1, detached: false }
    this.open.set(did, entry)
    this.evict()
    return entry
  }

  private release(entry: Entry): void {
    entry.users--
    if (entry.users > 0) return
    if (entry.detached) entry.db.close()
    else this.evict()
  }

  private detach(entry: Entry): void {
    if (this.open.get(entry.did) === entry) this.open.delete(entry.did)
    entry.detached = true
    if (entry.users === 0) entry.db.close()
    // the thread's connection goes too (it reopens the store if it is written again)
    void this.checkpointer?.forget(entry.dbPath)
  }

  /** Closes least recently used stores nobody is using until the cache fits. */
  private evict(): void {
    if (this.open.size <= this.cacheSize) return
    for (const entry of [...this.open.values()]) {
      if (this.open.size <= this.cacheSize) break
      if (entry.users === 0) this.detach(entry)
    }
  }
}
