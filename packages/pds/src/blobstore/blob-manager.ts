import fs from 'node:fs/promises'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { createCid, RAW_DATA_CODEC, SHA256_HASH_CODE, type RawCid, type TypedBlobRef } from '@atproto/lex-data'
import type { ActorDb, ActorStore } from '../actor-store/actor-store.ts'
import type { PdsConfig } from '../config.ts'
import { blobLogger } from '../logger.ts'
import type { BlobStore } from './blobstore.ts'

export const blobCid = (bytes: Uint8Array): RawCid =>
  createCid(RAW_DATA_CODEC, SHA256_HASH_CODE, createHash('sha256').update(bytes).digest())

const GENERIC_MIME = new Set(['application/octet-stream', '*/*', ''])

/**
 * Uploads and temp-blob garbage collection. An upload is stored under a temp
 * key and recorded in the account's store; a commit that references it makes
 * it permanent. Uploads nobody referenced within the grace period are deleted
 * (files and rows), checked every `gcIntervalMs`.
 */
export class BlobManager {
  private readonly actorStore: ActorStore
  private readonly blobstore: BlobStore
  private readonly cfg: PdsConfig
  private readonly pendingDids = new Set<string>()
  private timer: NodeJS.Timeout | null = null

  constructor(actorStore: ActorStore, blobstore: BlobStore, cfg: PdsConfig) {
    this.actorStore = actorStore
    this.blobstore = blobstore
    this.cfg = cfg
  }

  /** The blob ref (lex data model: `{$type: 'blob', ref, mimeType, size}`) a record may then cite. */
  async upload(did: string, bytes: Uint8Array, declaredType: string | undefined): Promise<TypedBlobRef<RawCid>> {
    const cid = blobCid(bytes)
    const { fileTypeFromBuffer } = await import('file-type') // loaded on first upload
    const sniffed = await fileTypeFromBuffer(bytes).catch(() => undefined)
    const declared = declaredType?.split(';')[0].trim().toLowerCase()
    const mimeType = sniffed?.mime ?? (declared && !GENERIC_MIME.has(declared) ? declared : 'application/octet-stream')
    const ref = (row: { mimeType: string; size: number }): TypedBlobRef<RawCid> => ({
      $type: 'blob',
      ref: cid,
      mimeType: row.mimeType,
      size: row.size,
    })
    // same bytes again: keep the stored copy; a pending upload gets a fresh grace period
    const known = (db: ActorDb) => {
      const row = db.getBlob(cid.toString())
      if (row?.tempKey) db.touchTempBlob(row.cid, new Date().toISOString())
      return row
    }
    const existing = await this.actorStore.transact(did, known)
    if (existing) return ref(existing)
    const tempKey = await this.blobstore.putTemp(did, bytes)
    const raced = await this.actorStore.transact(did, (db) => {
      const row = known(db)
      if (!row) db.insertBlob({ cid: cid.toString(), mimeType, size: bytes.length, tempKey, createdAt: new Date().toISOString() })
      return row
    })
    if (raced) {
      // the same bytes were uploaded meanwhile: theirs is the copy kept
      await this.blobstore.deleteTemp(did, tempKey).catch(() => undefined)
      return ref(raced)
    }
    // a blob an imported record already cites is the repo's at once (only
    // this upload can be such a blob: the import adopted the earlier ones)
    if (this.actorStore.read(did, (db) => db.isBlobReferenced(cid.toString()))) {
      await this.blobstore.makePermanent(did, tempKey, cid.toString())
      await this.actorStore.transact(did, (db) => db.markBlobPermanent(cid.toString()))
    } else {
      this.pendingDids.add(did)
    }
    return ref({ mimeType, size: bytes.length })
  }

  /**
   * Makes permanent the uploads that records already reference without a
   * commit having done it (after importRepo: the repo's records arrive
   * first, their blobs after).
   */
  async adoptReferenced(did: string): Promise<void> {
    const pending = this.actorStore.read(did, (db) => db.referencedTempBlobs())
    for (const { cid, tempKey } of pending) {
      await this.blobstore.makePermanent(did, tempKey, cid)
      await this.actorStore.transact(did, (db) => db.markBlobPermanent(cid))
    }
  }

  start(intervalMs = 60_000): void {
    if (this.timer) return
    void this.discoverPending()
    this.timer = setInterval(() => void this.collectGarbage(), intervalMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** Accounts with temp files on disk (survives restarts). */
  private async discoverPending(): Promise<void> {
    const tmp = path.join(this.cfg.blobstoreLocation, 'tmp')
    const dirs = await fs.readdir(tmp).catch(() => [] as string[])
    for (const d of dirs) this.pendingDids.add(decodeURIComponent(d))
  }

  /** Deletes unreferenced uploads older than the grace period; returns how many. */
  async collectGarbage(now = Date.now()): Promise<number> {
    const before = new Date(now - this.cfg.blobTempGraceMs).toISOString()
    let removed = 0
    for (const did of [...this.pendingDids]) {
      if (!this.actorStore.exists(did)) {
        this.pendingDids.delete(did)
        continue
      }
      try {
        const { count, left } = await this.actorStore.transact(did, async (db) => {
          const expired = db.expiredTempBlobs(before)
          db.transaction(() => {
            for (const row of expired) db.deleteBlob(row.cid)
          })
          for (const row of expired) if (row.tempKey) await this.blobstore.deleteTemp(did, row.tempKey)
          return { count: expired.length, left: db.hasTempBlobs() }
        })
        removed += count
        if (!left) this.pendingDids.delete(did)
      } catch (err) {
        blobLogger.warn({ err, did }, 'blob gc failed')
      }
    }
    return removed
  }
}
