import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { BlobNotFoundError, type BlobStore } from './blobstore.ts'

const isNotFound = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT'

/**
 * Blobs on local disk: `<root>/<did>/<cid>` permanent, `<root>/tmp/<did>/<key>`
 * temporary. Writes are fsynced before they are acknowledged.
 */
export class DiskBlobStore implements BlobStore {
  readonly root: string

  constructor(root: string) {
    this.root = root
  }

  private dir(did: string) {
    return path.join(this.root, encodeURIComponent(did))
  }
  private tmpDir(did: string) {
    return path.join(this.root, 'tmp', encodeURIComponent(did))
  }
  private permPath(did: string, cid: string) {
    return path.join(this.dir(did), cid)
  }

  async putTemp(did: string, bytes: Uint8Array): Promise<string> {
    const key = randomBytes(16).toString('hex')
    await fs.mkdir(this.tmpDir(did), { recursive: true })
    const fh = await fs.open(path.join(this.tmpDir(did), key), 'w')
    try {
      await fh.writeFile(bytes)
      await fh.sync()
    } finally {
      await fh.close()
    }
    return key
  }

  async makePermanent(did: string, tempKey: string, cid: string): Promise<void> {
    const target = this.permPath(did, cid)
    if (await this.hasStored(did, cid)) {
      await this.deleteTemp(did, tempKey)
      return
    }
    await fs.mkdir(this.dir(did), { recursive: true })
    try {
      await fs.rename(path.join(this.tmpDir(did), tempKey), target)
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(`temp blob ${tempKey} is gone`)
      throw err
    }
  }

  async hasStored(did: string, cid: string): Promise<boolean> {
    try {
      await fs.access(this.permPath(did, cid))
      return true
    } catch {
      return false
    }
  }

  async getStream(did: string, cid: string): Promise<Readable> {
    const p = this.permPath(did, cid)
    try {
      await fs.access(p)
    } catch {
      throw new BlobNotFoundError(`blob ${cid} not found`)
    }
    return createReadStream(p)
  }

  async getBytes(did: string, cid: string): Promise<Uint8Array> {
    try {
      return await fs.readFile(this.permPath(did, cid))
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(`blob ${cid} not found`)
      throw err
    }
  }

  async delete(did: string, cid: string): Promise<void> {
    await fs.rm(this.permPath(did, cid), { force: true })
  }

  async deleteTemp(did: string, tempKey: string): Promise<void> {
    await fs.rm(path.join(this.tmpDir(did), tempKey), { force: true })
  }

  async deleteAll(did: string): Promise<void> {
    await fs.rm(this.dir(did), { recursive: true, force: true })
    await fs.rm(this.tmpDir(did), { recursive: true, force: true })
  }
}
