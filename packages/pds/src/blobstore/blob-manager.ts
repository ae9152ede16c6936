import fs from 'node:fs/promises'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { BlobRef } from '@atproto/lexicon'
import type { ActorStore } from '../actor-store/actor-store.ts'
import type { PdsConfig } from '../config.ts'
import { blobLogger } from '../logger.ts'
import type { BlobStore } from './blobstore.ts'

const RAW_CODEC = 0x55
const SHA256_CODE = 0x12

export const blobCid = (bytes: Uint8Array): CID =>
  CID.createV1(RAW_CODEC, createDigest(SHA256_CODE, createHash('sha256').update(bytes).digest()))

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

  async upload(did: string, bytes: Uint8Array, declaredType: string | undefined) {
    const cid = blobCid(bytes)
    const { fileTypeFromBuffer } = await import('file-type') // loaded on first upload
    const sniffed = await fileTypeFromBuffer(bytes).catch(() => undefined)
    const declared = declaredType?.split(';')[0].trim().toLowerCase()
    const mimeType = sniffed?.mime ?? (declared && !GENERIC_MIME.has(declared) ? declared : 'application/octet-stream')
    const db = this.actorStore.db(did)
    const existing = db.getBlob(cid.toString())
    if (existing) {
      // same bytes again: keep the stored copy; a pending upload gets a fresh grace period
      if (existing.tempKey) db.prep('UPDATE blob SET createdAt = ? WHERE cid = ?').run(new Date().toISOString(), existing.cid)
      return new BlobRef(cid as never, existing.mimeType, existing.size)
    }
    const tempKey = await this.blobstore.putTemp(did, bytes)
    db.insertBlob({ cid: cid.toString(), mimeType, size: bytes.length, tempKey, createdAt: new Date().toISOString() })
    this.pendingDids.add(did)
    return new BlobRef(cid as never, mimeType, bytes.length)
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
        const db = this.actorStore.db(did)
        for (const row of db.expiredTempBlobs(before)) {
          db.deleteBlob(row.cid)
          if (row.tempKey) await this.blobstore.deleteTemp(did, row.tempKey)
          removed++
        }
        const left = db.prep('SELECT 1 FROM blob WHERE tempKey IS NOT NULL LIMIT 1').get()
        if (!left) this.pendingDids.delete(did)
      } catch (err) {
        blobLogger.warn({ err, did }, 'blob gc failed')
      }
    }
    return removed
  }
}
