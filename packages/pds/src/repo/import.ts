import fs from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { CarError, CarStream } from '@atsuite/common'
import { CborError, CidRef, decodeCbor, isMap, type CborValue } from '@atsuite/common/dag-cbor'
import { isValidNsid, isValidRecordKey, isValidTid } from '@atproto/syntax'
import type { ActorStore } from '../actor-store/actor-store.ts'
import { InvalidRequest } from '../errors.ts'

/** What an import changed, for the caller's bookkeeping and events. */
export type ImportResult = {
  cid: string
  rev: string
  /** the commit's bytes (as imported, signature untouched) */
  commitBytes: Uint8Array
  records: number
  blocks: number
  /** records whose CID changed or that are new */
  changedRecords: number
  removedRecords: number
  bytes: number
}

/** How many MST nodes are walked between yields to the event loop. */
const WALK_SLICE = 256
/** Blocks per staging transaction while the CAR streams in. */
const STAGE_BATCH = 2000

const bad = (message: string): never => {
  throw new InvalidRequest(message)
}

/**
 * com.atproto.repo.importRepo: replaces an account's repo by the one in a CAR
 * (a whole repo, or a `getRepo?since=` diff over the stored one), streaming.
 *
 * 1. The CAR streams into a staging SQLite file beside the account's store
 *    (blocks hash-checked against their CIDs); memory holds one block.
 * 2. The commit named by the CAR's root is checked (version 3, this
 *    account's DID, a TID rev), then its MST is walked from the staging file,
 *    falling back to the blocks already stored (a diff names unchanged
 *    subtrees only by CID): keys in order, valid record paths, every node and
 *    record present. The walk lists the records, their blob references and
 *    every block the new repo reaches.
 * 3. Only then, in ONE transaction of the account's store: blocks nothing
 *    reaches go, new ones come in, the record index and blob links are
 *    replaced, the root moves. Any failure before leaves the account as it
 *    was (the reference answers a non-CAR body with a 500 and an other
 *    account's CAR by replacing the repo with it).
 *
 * The signature is not checked here: the commit is the old host's, signed
 * with the key the DID document named there; the account's own key re-signs
 * the head when the account is (re)activated (RepoWriter.resignHead).
 */
export class RepoImporter {
  private readonly actorStore: ActorStore
  private readonly running = new Set<string>()

  constructor(actorStore: ActorStore) {
    this.actorStore = actorStore
  }

  async import(did: string, body: AsyncIterable<Uint8Array>): Promise<ImportResult> {
    if (this.running.has(did)) bad('an import of this repo is already running')
    this.running.add(did)
    const stagePath = path.join(this.actorStore.location(did).dir, `import-${randomBytes(6).toString('hex')}.sqlite`)
    const stage = new Stage(stagePath)
    try {
      const car = new CarStream(body)
      const { root, blocks } = await this.stream(car, stage)
      const commit = this.readCommit(did, root, stage)
      const walked = await this.walk(did, commit.data, stage)
      stage.keep(root.toString())
      const now = new Date().toISOString()
      const swap = await this.actorStore.transact(did, (db) =>
        db.importStaged(stagePath, { did, cid: root.toString(), rev: commit.rev, now }),
      )
      this.actorStore.setHead(did, undefined)
      return {
        cid: root.toString(),
        rev: commit.rev,
        commitBytes: commit.bytes,
        records: walked.records,
        blocks,
        changedRecords: swap.changedRecords,
        removedRecords: swap.removedRecords,
        bytes: car.bytesRead,
      }
    } catch (err) {
      if (err instanceof CarError || err instanceof CborError) throw new InvalidRequest(`not a valid repo CAR: ${err.message}`)
      throw err
    } finally {
      stage.close()
      this.running.delete(did)
    }
  }

  private async stream(car: CarStream, stage: Stage): Promise<{ root: CidRef; blocks: number }> {
    const roots = await car.header()
    if (roots.length !== 1) bad(`a repo CAR has exactly one root (the commit); this one has ${roots.length}`)
    let blocks = 0
    stage.begin()
    for await (const block of car.blocks()) {
      stage.putBlock(new CidRef(block.cid).toString(), block.data)
      if (++blocks % STAGE_BATCH === 0) {
        stage.commit()
        stage.begin()
      }
    }
    stage.commit()
    if (blocks === 0) bad('the CAR has no blocks (an empty repo export has at least its commit)')
    return { root: roots[0], blocks }
  }

  private block(did: string, cid: string, stage: Stage): Uint8Array | undefined {
    return stage.getBlock(cid) ?? this.actorStore.read(did, (db) => db.getBlock(cid))
  }

  private readCommit(did: string, root: CidRef, stage: Stage): { data: CidRef; rev: string; bytes: Uint8Array } {
    const bytes = this.block(did, root.toString(), stage)
    if (!bytes) return bad(`the CAR's root ${root.toString()} (the commit) is not in the CAR`)
    const commit = decodeCbor(bytes)
    if (!isMap(commit) || commit.version !== 3 || !(commit.data instanceof CidRef) || typeof commit.rev !== 'string') {
      return bad("the CAR's root is not a version 3 repo commit")
    }
    if (commit.did !== did) {
      return bad(`the CAR's commit is for ${String(commit.did)}, not for this account (${did})`)
    }
    if (!isValidTid(commit.rev)) bad(`the commit's rev ${commit.rev} is not a TID`)
    return { data: commit.data, rev: commit.rev, bytes }
  }

  /** Walks the MST in key order, staging records, blob links and reachable blocks. */
  private async walk(did: string, dataRoot: CidRef, stage: Stage): Promise<{ records: number }> {
    // depth-first in key order: a frame is a node's remaining entries
    type Item = { kind: 'node'; cid: CidRef } | { kind: 'leaf'; key: string; cid: CidRef }
    const todo: Item[] = [{ kind: 'node', cid: dataRoot }]
    let lastKey = ''
    let records = 0
    let steps = 0
    stage.begin()
    while (todo.length > 0) {
      const item = todo.pop()!
      if (++steps % WALK_SLICE === 0) {
        stage.commit()
        await yieldToLoop()
        stage.begin()
      }
      const cidStr = item.cid.toString()
      const bytes = this.block(did, cidStr, stage)
      if (item.kind === 'leaf') {
        if (!bytes) bad(`record ${item.key} (${cidStr}) is missing from the CAR (truncated export?)`)
        if (item.key <= lastKey) bad(`MST keys out of order at ${item.key}`)
        lastKey = item.key
        const slash = item.key.indexOf('/')
        const collection = item.key.slice(0, slash)
        const rkey = item.key.slice(slash + 1)
        if (slash < 0 || !isValidNsid(collection) || !isValidRecordKey(rkey)) bad(`invalid record path in the MST: ${item.key}`)
        let record: CborValue
        try {
          record = decodeCbor(bytes!)
        } catch (err) {
          return bad(`record ${item.key} is not DAG-CBOR: ${(err as Error).message}`)
        }
        if (!isMap(record)) bad(`record ${item.key} is not a map`)
        const uri = `at://${did}/${item.key}`
        stage.putLeaf(uri, cidStr, collection, rkey)
        for (const blob of blobRefs(record, 0)) stage.putLeafBlob(blob, uri)
        stage.keep(cidStr)
        records++
        continue
      }
      if (!bytes) bad(`MST node ${cidStr} is missing from the CAR (truncated export?)`)
      stage.keep(cidStr)
      const node = decodeCbor(bytes!)
      if (!isMap(node) || !Array.isArray(node.e) || !(node.l === null || node.l instanceof CidRef)) {
        bad(`block ${cidStr} is not an MST node`)
      }
      const entries = (node as { e: CborValue[] }).e
      // children in reverse so the stack pops them in key order: left, then (leaf, right subtree) per entry
      const items: Item[] = []
      if ((node as { l: CidRef | null }).l) items.push({ kind: 'node', cid: (node as { l: CidRef }).l })
      let prevKey = ''
      for (const e of entries) {
        if (!isMap(e) || typeof e.p !== 'number' || !(e.k instanceof Uint8Array) || !(e.v instanceof CidRef)) {
          bad(`block ${cidStr} has a malformed MST entry`)
        }
        const entry = e as { p: number; k: Uint8Array; v: CidRef; t: CborValue }
        if (entry.p > prevKey.length) bad(`block ${cidStr} has a malformed MST entry prefix`)
        const key = prevKey.slice(0, entry.p) + Buffer.from(entry.k).toString('utf8')
        prevKey = key
        items.push({ kind: 'leaf', key, cid: entry.v })
        if (entry.t instanceof CidRef) items.push({ kind: 'node', cid: entry.t })
        else if (entry.t !== null && entry.t !== undefined) bad(`block ${cidStr} has a malformed MST subtree link`)
      }
      for (let i = items.length - 1; i >= 0; i--) todo.push(items[i])
    }
    stage.commit()
    return { records }
  }
}

/** Blob CIDs a record references: `{$type: 'blob', ref}` and the legacy `{cid, mimeType}`. */
const blobRefs = (value: CborValue, depth: number, out = new Set<string>()): Set<string> => {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || value instanceof CidRef || depth > 32) {
    return out
  }
  if (Array.isArray(value)) {
    for (const v of value) blobRefs(v, depth + 1, out)
    return out
  }
  if (value.$type === 'blob' && value.ref instanceof CidRef) {
    out.add(value.ref.toString())
    return out
  }
  if (typeof value.cid === 'string' && typeof value.mimeType === 'string' && Object.keys(value).length === 2) {
    out.add(value.cid)
    return out
  }
  for (const v of Object.values(value)) blobRefs(v, depth + 1, out)
  return out
}

/** The staging file of one import: deleted when the import ends, whatever the outcome. */
class Stage {
  private readonly location: string
  private readonly db: Database.Database
  private readonly stmts: Record<'putBlock' | 'getBlock' | 'keep' | 'putLeaf' | 'putLeafBlob', Database.Statement>

  constructor(location: string) {
    this.location = location
    fs.mkdirSync(path.dirname(location), { recursive: true })
    this.db = new Database(location)
    this.db.pragma('journal_mode = OFF')
    this.db.pragma('synchronous = OFF')
    this.db.exec(`
      CREATE TABLE block (cid TEXT PRIMARY KEY, content BLOB NOT NULL);
      CREATE TABLE keep (cid TEXT PRIMARY KEY) WITHOUT ROWID;
      CREATE TABLE leaf (uri TEXT PRIMARY KEY, cid TEXT NOT NULL, collection TEXT NOT NULL, rkey TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE leaf_blob (blobCid TEXT NOT NULL, uri TEXT NOT NULL, PRIMARY KEY (blobCid, uri)) WITHOUT ROWID;
    `)
    this.stmts = {
      putBlock: this.db.prepare('INSERT OR IGNORE INTO block (cid, content) VALUES (?, ?)'),
      getBlock: this.db.prepare('SELECT content FROM block WHERE cid = ?').pluck(),
      keep: this.db.prepare('INSERT OR IGNORE INTO keep (cid) VALUES (?)'),
      putLeaf: this.db.prepare('INSERT INTO leaf (uri, cid, collection, rkey) VALUES (?, ?, ?, ?)'),
      putLeafBlob: this.db.prepare('INSERT OR IGNORE INTO leaf_blob (blobCid, uri) VALUES (?, ?)'),
    }
  }

  begin(): void {
    this.db.exec('BEGIN')
  }
  commit(): void {
    this.db.exec('COMMIT')
  }
  putBlock(cid: string, bytes: Uint8Array): void {
    this.stmts.putBlock.run(cid, bytes)
  }
  getBlock(cid: string): Uint8Array | undefined {
    return this.stmts.getBlock.get(cid) as Buffer | undefined
  }
  keep(cid: string): void {
    this.stmts.keep.run(cid)
  }
  putLeaf(uri: string, cid: string, collection: string, rkey: string): void {
    this.stmts.putLeaf.run(uri, cid, collection, rkey)
  }
  putLeafBlob(blobCid: string, uri: string): void {
    this.stmts.putLeafBlob.run(blobCid, uri)
  }

  close(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK')
    this.db.close()
    fs.rmSync(this.location, { force: true })
  }
}
