import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import { existsSync } from 'node:fs'
import path from 'node:path'
import type { Secp256k1Keypair } from '@atproto/crypto'
import { RepoSigningKey } from './signing-key.ts'
import type { RepoHead } from '../repo/commit.ts'
import { ActorDb } from './actor-db.ts'

export class ActorStoreNotFoundError extends Error {}

type Entry = { db: ActorDb; keypair?: RepoSigningKey; head?: RepoHead }

/**
 * Each account's repo lives in `<dir>/<2 hex of sha256(did)>/<did>/store.sqlite`
 * with its signing key beside it in `key` (hex). Open handles are kept in a
 * bounded LRU. `transact` serialises all writes of one account (a commit reads
 * the current root, so two concurrent commits of one repo must not
 * interleave); different accounts proceed in parallel.
 */
export class ActorStore {
  readonly directory: string
  private readonly maxOpen: number
  private open = new Map<string, Entry>()
  private locks = new Map<string, Promise<unknown>>()

  constructor(directory: string, opts: { maxOpen?: number } = {}) {
    this.directory = directory
    this.maxOpen = opts.maxOpen ?? 500
  }

  location(did: string): { dir: string; dbPath: string; keyPath: string } {
    const shard = createHash('sha256').update(did).digest('hex').slice(0, 2)
    const dir = path.join(this.directory, shard, did)
    return { dir, dbPath: path.join(dir, 'store.sqlite'), keyPath: path.join(dir, 'key') }
  }

  exists(did: string): boolean {
    return this.open.has(did) || existsSync(this.location(did).dbPath)
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
    const entry = this.get(did, true)
    entry.keypair = await RepoSigningKey.fromKeypair(keypair)
  }

  private get(did: string, allowCreate = false): Entry {
    let entry = this.open.get(did)
    if (entry) {
      // refresh LRU position
      this.open.delete(did)
      this.open.set(did, entry)
      return entry
    }
    const { dbPath } = this.location(did)
    if (!allowCreate && !existsSync(dbPath)) {
      throw new ActorStoreNotFoundError(`no repo stored for ${did}`)
    }
    entry = { db: new ActorDb(dbPath) }
    this.open.set(did, entry)
    if (this.open.size > this.maxOpen) this.evict()
    return entry
  }

  private evict(): void {
    for (const [did, entry] of this.open) {
      if (this.open.size <= this.maxOpen) break
      if (this.locks.has(did)) continue
      entry.db.close()
      this.open.delete(did)
    }
  }

  db(did: string): ActorDb {
    return this.get(did).db
  }

  async keypair(did: string): Promise<RepoSigningKey> {
    const entry = this.get(did)
    if (!entry.keypair) {
      const hex = (await fs.readFile(this.location(did).keyPath, 'utf8')).trim()
      entry.keypair = await RepoSigningKey.fromHex(hex)
    }
    return entry.keypair
  }

  /** The cached head of an open store (see repo/commit.ts); only valid while it matches the stored root. */
  head(did: string): RepoHead | undefined {
    return this.open.get(did)?.head
  }

  setHead(did: string, head: RepoHead | undefined): void {
    const entry = this.open.get(did)
    if (entry) entry.head = head
  }

  /** Runs fn with exclusive write access to one account's store. */
  async transact<T>(did: string, fn: (db: ActorDb) => Promise<T>): Promise<T> {
    const prev = this.locks.get(did) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((resolve) => (release = resolve))
    const chained = prev.then(() => mine)
    this.locks.set(did, chained)
    await prev
    try {
      return await fn(this.get(did).db)
    } finally {
      release()
      if (this.locks.get(did) === chained) this.locks.delete(did)
    }
  }

  async destroy(did: string): Promise<void> {
    await this.transact(did, async () => {
      const entry = this.open.get(did)
      entry?.db.close()
      this.open.delete(did)
    }).catch((err) => {
      if (!(err instanceof ActorStoreNotFoundError)) throw err
    })
    await fs.rm(this.location(did).dir, { recursive: true, force: true })
  }

  close(): void {
    for (const entry of this.open.values()) entry.db.close()
    this.open.clear()
  }
}
