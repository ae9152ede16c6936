import { cborToLexRecord, getRecords, BlockMap, blocksToCarFile } from '@atproto/repo'
import { carHeader, cidBytes, pushCarBlock } from './car.ts'
import { parseCid, type Cid, type LexMap } from '@atproto/lex-data'
import type { ActorStore } from '../actor-store/actor-store.ts'
import { SqlRepoStorage } from '../actor-store/repo-storage.ts'
import { clampLimit } from '@atsuite/common'
import { InvalidRequest, RecordNotFoundError } from '../errors.ts'
import { atUri } from './prepare.ts'

export type RecordView = { uri: string; cid: string; value: LexMap }

const PAGE = 1000

/** Read paths over one account's store; never writes. */
export class RepoReader {
  private readonly actorStore: ActorStore

  constructor(actorStore: ActorStore) {
    this.actorStore = actorStore
  }

  getRecord(did: string, collection: string, rkey: string, cid?: string): RecordView | null {
    const db = this.actorStore.db(did)
    const uri = atUri(did, collection, rkey)
    const row = db.getRecord(uri)
    if (!row || (cid && row.cid !== cid)) return null
    const bytes = db.getBlock(row.cid)
    if (!bytes) return null
    return { uri, cid: row.cid, value: cborToLexRecord(bytes) }
  }

  /** The current CID of a record, from the index alone (no block read or decode). */
  recordCid(did: string, collection: string, rkey: string): string | null {
    return this.actorStore.db(did).getRecord(atUri(did, collection, rkey))?.cid ?? null
  }

  listRecords(did: string, opts: { collection: string; limit?: number; cursor?: string; reverse?: boolean }) {
    const db = this.actorStore.db(did)
    const limit = clampLimit(opts.limit, 50, 100)
    const rows = db.listRecords(opts.collection, limit, opts.cursor, opts.reverse ?? false)
    const records: RecordView[] = []
    for (const row of rows) {
      const bytes = db.getBlock(row.cid)
      if (bytes) records.push({ uri: row.uri, cid: row.cid, value: cborToLexRecord(bytes) })
    }
    const cursor = rows.length === limit ? rows[rows.length - 1].rkey : undefined
    return { records, cursor }
  }

  collections(did: string): string[] {
    return this.actorStore.db(did).listCollections()
  }

  root(did: string): { cid: string; rev: string } | null {
    const root = this.actorStore.db(did).getRoot()
    return root ? { cid: root.cid, rev: root.rev } : null
  }

  /**
   * The whole repo (or the blocks written after `since`) as a CAR stream whose
   * root is the current commit. Reads in keyset pages so the store stays
   * usable by other requests while a large export streams.
   */
  async *repoCar(did: string, since?: string): AsyncIterable<Uint8Array> {
    const db = this.actorStore.db(did)
    const root = db.getRoot()
    if (!root) throw new InvalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
    yield carHeader(parseCid(root.cid))
    let cursor = ''
    for (;;) {
      const rows = (
        since
          ? db.prep('SELECT cid, content FROM repo_block WHERE repoRev > ? AND cid > ? ORDER BY cid LIMIT ?').all(since, cursor, PAGE)
          : db.prep('SELECT cid, content FROM repo_block WHERE cid > ? ORDER BY cid LIMIT ?').all(cursor, PAGE)
      ) as { cid: string; content: Buffer }[]
      // one buffer per page of blocks
      const parts: Uint8Array[] = []
      for (const r of rows) pushCarBlock(parts, cidBytes(r.cid), r.content)
      if (parts.length > 0) yield Buffer.concat(parts)
      if (rows.length < PAGE) return
      cursor = rows[rows.length - 1].cid
    }
  }

  /** A CAR proving a record's presence or absence under the current commit. */
  recordProof(did: string, collection: string, rkey: string): AsyncIterable<Uint8Array> {
    const db = this.actorStore.db(did)
    const root = db.getRoot()
    if (!root) throw new InvalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
    const storage = new SqlRepoStorage(db, did)
    return getRecords(storage, parseCid(root.cid), [{ collection, rkey }])
  }

  async blocksCar(did: string, cids: string[]): Promise<Uint8Array> {
    const db = this.actorStore.db(did)
    const blocks = new BlockMap()
    const missing: string[] = []
    for (const c of cids) {
      let cid: Cid
      try {
        cid = parseCid(c)
      } catch {
        throw new InvalidRequest(`Invalid CID: ${c}`)
      }
      const bytes = db.getBlock(cid.toString())
      if (bytes) blocks.set(cid, bytes)
      else missing.push(c)
    }
    if (missing.length > 0) throw new InvalidRequest(`Could not find cids: ${missing.join(', ')}`, 'BlockNotFound')
    return blocksToCarFile(null, blocks)
  }

  recordCount(did: string): number {
    return this.actorStore.db(did).countRecords()
  }
}

export { RecordNotFoundError }
