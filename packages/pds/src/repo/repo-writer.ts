import { Repo, signCommit, verifyCommitSig, type Commit, type CommitData } from '@atproto/repo'
import { TID } from '@atproto/common'
import { decode as cborDecode, encode as cborEncode } from '@atproto/lex-cbor'
import { cidForCbor, parseCid, type Cid } from '@atproto/lex-data'
import type { Secp256k1Keypair } from '@atproto/crypto'
import type { ActorDb, ActorReader, ActorStore } from '../actor-store/actor-store.ts'
import { repoLogger } from '../logger.ts'
import { applyCommitBlocks, SqlRepoStorage } from '../actor-store/repo-storage.ts'
import type { BlobStore } from '../blobstore/blobstore.ts'
import { InvalidRequest, InvalidSwapError, NotFoundErr } from '../errors.ts'
import type { AtUriString } from '@atproto/syntax'
import { mimeAccepted, type PreparedWrite, type ValidationStatus } from './prepare.ts'
import { KeyTakenError, formatCommit, loadHead, type CommitBlocks, type CommitWrite } from './commit.ts'
import type { BlockSource } from '@atsuite/common/mst'
import type { CommitSequencer } from '../sequencer/commits.ts'
import { commitEvent } from '../sequencer/events.ts'
import { FIREHOSE_MAX_BLOCKS_BYTES } from '@atsuite/common'

export type CommitOp = {
  action: 'create' | 'update' | 'delete'
  path: string
  cid: Cid | null
  prev: Cid | null
}

/** What a commit changed, handed to `onCommitted` listeners once it is durable. */
export type CommitEvent = {
  did: string
  commit: CommitBlocks
  ops: CommitOp[]
  prevData: Cid | null
}

export type WriteResult =
  | { action: 'delete'; uri: AtUriString }
  | { action: 'create' | 'update'; uri: AtUriString; cid: Cid; validationStatus: ValidationStatus }

export type CommitResult = {
  cid: Cid
  rev: string
  results: WriteResult[]
}

/**
 * Turns prepared writes into one signed commit and applies it: record index,
 * blob links and repo root are written in ONE synchronous SQLite transaction
 * in the account's store, with the commit's #commit event (the account's
 * outbox, whose CAR holds every block the commit adds) and the CIDs it
 * removes beside the root, so a commit is either entirely there after a crash
 * or not at all. The blocks themselves are written after the answer, in
 * batches of several commits (`ActorDb.deferBlocks`: until then reads of one
 * block see them, any other use of the block table writes them first, and
 * opening the store after a crash redoes them from the outbox rows). The
 * #commit event is queued
 * for the firehose log right after, in the same tick (sequencer/commits.ts),
 * so a crash anywhere leaves the event either sequenced or waiting in the
 * outbox for the restart. `onCommitted` listeners run after that. What it always
 * checks: swapCommit, swapRecord, create-over-existing,
 * update/delete-of-missing, referenced blobs exist and satisfy the schema's
 * accept/maxSize. What it never checks: auth (callers).
 */
export class RepoWriter {
  private readonly actorStore: ActorStore
  private readonly blobstore: BlobStore
  private readonly commits: CommitSequencer
  private readonly afterCommit: ((evt: CommitEvent) => void)[] = []

  constructor(actorStore: ActorStore, blobstore: BlobStore, commits: CommitSequencer) {
    this.actorStore = actorStore
    this.blobstore = blobstore
    this.commits = commits
  }

  /** fn runs synchronously right after each commit transaction, in the same tick (not for createRepo). */
  onCommitted(fn: (evt: CommitEvent) => void): void {
    this.afterCommit.push(fn)
  }

  async createRepo(did: string, keypair: Secp256k1Keypair): Promise<CommitData> {
    await this.actorStore.create(did, keypair)
    return this.actorStore.transact(did, async (db) => {
      const storage = new SqlRepoStorage(db, did)
      const commit = await Repo.formatInitCommit(storage, did, keypair)
      db.transaction(() => applyCommitBlocks(db, did, commit))
      // no onCommitted here: the account is announced (identity, account,
      // commit, sync) only once its DID is registered, by the caller
      return commit
    })
  }

  async processWrites(did: string, writes: PreparedWrite[], swapCommit?: Cid): Promise<CommitResult> {
    if (writes.length === 0) throw new InvalidRequest('no writes given')
    const keypair = await this.actorStore.keypair(did)
    return this.actorStore.transact(did, async (db) => {
      const root = db.getRoot()
      if (!root) throw new NotFoundErr(`repo not found: ${did}`, 'RepoNotFound')
      if (swapCommit && swapCommit.toString() !== root.cid) {
        throw new InvalidSwapError(`Commit was at ${root.cid}`)
      }
      this.commits.beforeCommit(db, did)

      const ops: CommitWrite[] = []
      const commitOps: CommitOp[] = []
      const seenPaths = new Set<string>()
      for (const w of writes) {
        const path = `${w.collection}/${w.rkey}`
        if (seenPaths.has(path)) throw new InvalidRequest(`more than one write to ${path}`)
        seenPaths.add(path)
        // a create with no swap skips the lookup: formatCommit finds a taken key in the tree (KeyTakenError)
        const current = w.action === 'create' && w.swapCid === undefined ? undefined : db.getRecord(w.uri)
        if (w.swapCid !== undefined) {
          const currentCid = current?.cid ?? null
          const expected = w.swapCid === null ? null : w.swapCid.toString()
          if (currentCid !== expected) {
            throw new InvalidSwapError(`Record was at ${currentCid ?? 'null'}`)
          }
        }
        const prev = current ? parseCidStr(current.cid) : null
        if (w.action === 'create') {
          if (current) throw new InvalidRequest(`Record already exists: ${w.uri}`, 'InvalidRequest')
          ops.push({ action: 'create', key: path, cid: w.cid, bytes: w.bytes })
          commitOps.push({ action: 'create', path, cid: w.cid, prev: null })
        } else if (w.action === 'update') {
          // putRecord semantics: an update of a missing record creates it
          if (current) {
            ops.push({ action: 'update', key: path, cid: w.cid, bytes: w.bytes })
            commitOps.push({ action: 'update', path, cid: w.cid, prev })
          } else {
            ops.push({ action: 'create', key: path, cid: w.cid, bytes: w.bytes })
            commitOps.push({ action: 'create', path, cid: w.cid, prev: null })
          }
        } else {
          if (!current) throw new InvalidRequest(`Could not find record: ${w.uri}`, 'RecordNotFound')
          ops.push({ action: 'delete', key: path })
          commitOps.push({ action: 'delete', path, cid: null, prev })
        }
      }

      const blobTempKeys = this.checkBlobs(db, writes)

      const source: BlockSource = (cid) => db.getBlock(cid.toString())
      const cached = this.actorStore.head(did)
      const head = cached && cached.cid.toString() === root.cid ? cached : loadHead(source, parseCidStr(root.cid))
      // formatting changes the head's tree in place: it is cached again only once this commit is in
      this.actorStore.setHead(did, undefined)
      const { commit, next } = await formatCommit(head, ops, keypair, source).catch((err: unknown) => {
        if (!(err instanceof KeyTakenError)) throw err
        throw new InvalidRequest(`Record already exists: at://${did}/${err.key}`, 'InvalidRequest')
      })
      const evt: CommitEvent = { did, commit, ops: commitOps, prevData: head.commit.data }
      // the event as the firehose will carry it: refused here if a relay would drop it
      const event = commitEvent(evt)
      const eventBytes = (event.body.blocks as Uint8Array).length
      if (eventBytes > FIREHOSE_MAX_BLOCKS_BYTES) {
        throw new InvalidRequest(
          `This commit's blocks come to ${eventBytes.toLocaleString('en')} bytes; a commit on the firehose carries at most ${FIREHOSE_MAX_BLOCKS_BYTES.toLocaleString('en')}: split the writes into several commits`,
        )
      }

      // Bytes first, then the transaction that makes them referenced: a crash
      // in between leaves at worst an unreferenced permanent file.
      for (const [cid, tempKey] of blobTempKeys) {
        await this.blobstore.makePermanent(did, tempKey, cid)
      }

      const now = new Date().toISOString()
      const removed = Array.from(commit.removedCids, String)
      let orphanBlobs: string[] = []
      // from here to committed(): synchronous, so the event's expected seq holds
      const prepared = this.commits.prepare(event)
      db.transaction(() => {
        // record rows before blocks: a removed block that a remaining record still uses stays
        for (const w of writes) {
          // a create's key was free (KeyTakenError otherwise), and a deleted record's links went with it
          const orphans = w.action === 'create' ? [] : db.removeRecordBlobs(w.uri)
          if (w.action === 'delete') {
            db.deleteRecord(w.uri)
          } else {
            db.putRecord({
              uri: w.uri,
              cid: w.cid.toString(),
              collection: w.collection,
              rkey: w.rkey,
              repoRev: commit.rev,
              indexedAt: now,
            })
            for (const b of w.blobs) db.addRecordBlob(b.cid, w.uri)
          }
          orphanBlobs.push(...orphans)
        }
        // the head moves with the commit's event appended to the outbox (sequencer/commits.ts), and
        // the CIDs the commit removes: its blocks are written after the answer, in a batch, and
        // redone from these two after a crash (ActorDb.deferBlocks)
        db.setRoot(did, commit.cid.toString(), commit.rev, now, { seq: prepared.seq, body: prepared.body, removed })
        for (const cid of blobTempKeys.keys()) db.markBlobPermanent(cid)
        orphanBlobs = orphanBlobs.filter((c) => db.removeUnreferencedBlob(c))
      }, { keepDeferred: true })
      db.deferBlocks(commit.rev, commit.newBlocks, removed)
      this.actorStore.setHead(did, next)
      this.commits.committed(did, prepared, { cid: commit.cid.toString(), rev: commit.rev })
      // after the answer (and the firehose log's write, queued just before): the answer waits only
      // for the commit's own transaction (record rows, head, outbox); the blocks go in batches
      setImmediate(settleBlocks, db, did)
      for (const fn of this.afterCommit) fn(evt)
      for (const cid of orphanBlobs) await this.blobstore.delete(did, cid).catch(() => undefined)

      return {
        cid: commit.cid,
        rev: commit.rev,
        results: writes.map((w): WriteResult =>
          w.action === 'delete'
            ? { action: w.action, uri: w.uri }
            : { action: w.action, uri: w.uri, cid: w.cid, validationStatus: w.validationStatus },
        ),
      }
    })
  }

  /**
   * Signs the head commit again with the account's own key when it carries
   * another signature (an imported repo, signed by the old host): same data,
   * next rev, so `getRepo` verifies against the DID document at once instead
   * of after the next write. Returns the new head, or null when the head was
   * already ours.
   */
  async resignHead(did: string): Promise<{ cid: Cid; rev: string; bytes: Uint8Array } | null> {
    const keypair = await this.actorStore.keypair(did)
    return this.actorStore.transact(did, async (db) => {
      const root = db.getRoot()
      const bytes = root ? db.getBlock(root.cid) : undefined
      if (!root || !bytes) throw new NotFoundErr(`repo not found: ${did}`, 'RepoNotFound')
      const current = cborDecode(bytes) as unknown as Commit
      if (await verifyCommitSig(current, keypair.did())) return null
      const signed = await signCommit(
        { did: current.did, version: 3, rev: TID.nextStr(current.rev), prev: null, data: current.data },
        keypair,
      )
      const signedBytes = cborEncode(signed as never)
      const cid = await cidForCbor(signedBytes)
      db.transaction(() => {
        db.putBlock(cid.toString(), signedBytes, signed.rev)
        db.deleteBlock(root.cid)
        db.setRoot(did, cid.toString(), signed.rev, new Date().toISOString())
      })
      this.actorStore.setHead(did, undefined)
      return { cid, rev: signed.rev, bytes: signedBytes }
    })
  }

  /** Referenced blobs must have been uploaded by this account and fit their field's schema. */
  private checkBlobs(db: ActorReader, writes: PreparedWrite[]): Map<string, string> {
    const tempKeys = new Map<string, string>()
    for (const w of writes) {
      if (w.action === 'delete') continue
      for (const ref of w.blobs) {
        const row = db.getBlob(ref.cid)
        if (!row) {
          throw new InvalidRequest(`Could not find blob: ${ref.cid} (upload it with uploadBlob first)`, 'BlobNotFound')
        }
        if (ref.size !== row.size) {
          throw new InvalidRequest(`Blob ${ref.cid} is ${row.size} bytes, the record says ${ref.size}`, 'InvalidBlob')
        }
        if (ref.mimeType !== row.mimeType) {
          throw new InvalidRequest(
            `Blob ${ref.cid} is ${row.mimeType}, the record says ${ref.mimeType}`,
            'InvalidBlob',
          )
        }
        if (ref.maxSize !== undefined && row.size > ref.maxSize) {
          throw new InvalidRequest(
            `Blob ${ref.cid} is too large for ${w.collection}: ${row.size} > ${ref.maxSize} bytes`,
            'BlobTooLarge',
          )
        }
        if (!mimeAccepted(row.mimeType, ref.accept)) {
          throw new InvalidRequest(
            `Blob ${ref.cid} has mime type ${row.mimeType}, expected one of ${ref.accept?.join(', ')}`,
            'InvalidMimeType',
          )
        }
        if (row.tempKey) tempKeys.set(ref.cid, row.tempKey)
      }
    }
    return tempKeys
  }
}

const parseCidStr = (s: string): Cid => parseCid(s)

/** Deferred blocks, once a commit's answer is out, when a batch is due; a failure leaves them to the store's next use (or its next opening). */
const settleBlocks = (db: ActorDb, did: string): void => {
  try {
    db.settleIfDue()
  } catch (err) {
    repoLogger.error({ err, did }, "writing a commit's blocks failed; they are written at the store's next use")
  }
}
