import { cborToLexRecord, getRecords, BlockMap, blocksToCarFile } from '@atproto/repo'
import { carHeader, cidBytes, pushCarBlock } from './car.ts'
import { parseCid, type LexMap } from '@atproto/lex-data'
import type { ActorStore } from '../actor-store/actor-store.ts'
import { SqlBlockReader } from '../actor-store/repo-storage.ts'
import { clampLimit } from '@atsuite/common'
import { isValidNsid, type AtUriString, type DidString, type NsidString } from '@atproto/syntax'
import { InvalidRequest, RecordNotFoundError } from '../errors.ts'
import { checkedDid } from '../identity/did.ts'
import { atUri } from './prepare.ts'

export type RecordView = { uri: AtUriString; cid: string; value: LexMap }

/** Blocks read per keyset page while streaming a repo. */
const PAGE = 1000
/** Streamed CAR chunks are about this size (a larger block goes out alone). */
const CHUNK_BYTES = 64 * 1024

/**
 * Read paths over one account's store; never writes. Each method holds the
 * store for exactly as long as it reads it (`ActorStore.read`), a streamed
 * CAR until the stream ends or is abandoned (`ActorStore.readStream`).
 */
export class RepoReader {
  private readonly actorStore: ActorStore

  constructor(actorStore: ActorStore) {
    this.actorStore = actorStore
  }

  getRecord(did: string, collection: NsidString, rkey: string, cid?: string): RecordView | null {
    const uri = atUri(checkedDid(did), collection, rkey)
    return this.actorStore.read(did, (db) => {
      const row = db.getRecord(uri)
      if (!row || (cid && row.cid !== cid)) return null
      const bytes = db.getBlock(row.cid)
      if (!bytes) return null
      return { uri, cid: row.cid, value: cborToLexRecord(bytes) }
    })
  }

  /** The current CID of a record, from the index alone (no block read or decode). */
  recordCid(did: DidString, collection: NsidString, rkey: string): string | null {
    return this.actorStore.read(did, (db) => db.getRecord(atUri(did, collection, rkey))?.cid ?? null)
  }

  listRecords(did: DidString, opts: { collection: NsidString; limit?: number; cursor?: string; reverse?: boolean }) {
    const limit = clampLimit(opts.limit, 50, 100)
    return this.actorStore.read(did, (db) => {
      const rows = db.listRecords(opts.collection, limit, opts.cursor, opts.reverse ?? false)
      const records: RecordView[] = []
      for (const row of rows) {
        const bytes = db.getBlock(row.cid)
        if (bytes) records.push({ uri: atUri(did, opts.collection, row.rkey), cid: row.cid, value: cborToLexRecord(bytes) })
      }
      const cursor = rows.length === limit ? rows[rows.length - 1].rkey : undefined
      return { records, cursor }
    })
  }

  /** Only NSIDs are ever written as collections. */
  collections(did: string): NsidString[] {
    return this.actorStore.read(did, (db) => db.listCollections()).filter(isValidNsid)
  }

  root(did: string): { cid: string; rev: string } | null {
    const root = this.actorStore.read(did, (db) => db.getRoot())
    return root ? { cid: root.cid, rev: root.rev } : null
  }

  /**
   * The whole repo (or the blocks written after `since`) as a CAR stream whose
   * root is the current commit; RepoNotFound (before anything streams) when
   * the store has no commit. Reads in keyset pages so the store stays usable
   * by other requests while a large export streams, and keeps the store open
   * until the stream ends or is abandoned. A commit to the same repo while it
   * streams is not isolated from it (pages read after the commit see it).
   */
  repoCar(did: string, since?: string): AsyncIterable<Uint8Array> {
    const root = this.requireRoot(did)
    return this.actorStore.readStream(did, async function* (db) {
      yield carHeader(parseCid(root.cid))
      let parts: Uint8Array[] = []
      let size = 0
      /** adds a block; a full chunk, when there is one, to send */
      const add = (cid: Uint8Array, content: Uint8Array): Buffer | null => {
        pushCarBlock(parts, cid, content)
        size += cid.length + content.length
        if (size < CHUNK_BYTES) return null
        const chunk = Buffer.concat(parts)
        parts = []
        size = 0
        return chunk
      }
      if (since) {
        let afterCid = ''
        for (;;) {
          const rows = db.blockPageSince(since, afterCid, PAGE)
          for (const r of rows) {
            const chunk = add(cidBytes(r.cid), r.content)
            if (chunk) yield chunk
          }
          if (rows.length < PAGE) break
          afterCid = rows[rows.length - 1].cid
        }
      } else {
        let afterRowid = 0
        for (;;) {
          const page = db.blockPageStored(afterRowid, PAGE)
          if (!page) break
          let offset = 0
          for (let i = 0; i < page.cids.length; i++) {
            const n = page.lengths[i]
            const chunk = add(cidBytes(page.cids[i]), page.content.subarray(offset, offset + n))
            offset += n
            if (chunk) yield chunk
          }
          if (page.cids.length < PAGE) break
          afterRowid = page.last
        }
      }
      if (parts.length > 0) yield Buffer.concat(parts)
    })
  }

  /** A CAR proving a record's presence or absence under the current commit (RepoNotFound before it streams). */
  recordProof(did: string, collection: string, rkey: string): AsyncIterable<Uint8Array> {
    const root = parseCid(this.requireRoot(did).cid)
    return this.actorStore.readStream(did, (db) => getRecords(new SqlBlockReader(db), root, [{ collection, rkey }]))
  }

  async blocksCar(did: string, cids: string[]): Promise<Uint8Array> {
    const parsed = cids.map((c) => {
      try {
        return { str: c, cid: parseCid(c) }
      } catch {
        throw new InvalidRequest(`Invalid CID: ${c}`)
      }
    })
    const blocks = new BlockMap()
    const missing: string[] = []
    this.actorStore.read(did, (db) => {
      for (const { str, cid } of parsed) {
        const bytes = db.getBlock(cid.toString())
        if (bytes) blocks.set(cid, bytes)
        else missing.push(str)
      }
    })
    if (missing.length > 0) throw new InvalidRequest(`Could not find cids: ${missing.join(', ')}`, 'BlockNotFound')
    return blocksToCarFile(null, blocks)
  }

  recordCount(did: string): number {
    return this.actorStore.read(did, (db) => db.countRecords())
  }

  private requireRoot(did: string): { cid: string; rev: string } {
    const root = this.root(did)
    if (!root) throw new InvalidRequest(`Could not find repo for DID: ${did}`, 'RepoNotFound')
    return root
  }
}

export { RecordNotFoundError }
