import type { Readable } from 'node:stream'

/** Where blob bytes live. Keys are per account so deletion is per account. */
export interface BlobStore {
  /** Stores bytes under a fresh temporary key. */
  putTemp(did: string, bytes: Uint8Array): Promise<string>
  /** Moves a temp upload to its permanent place; idempotent. */
  makePermanent(did: string, tempKey: string, cid: string): Promise<void>
  hasStored(did: string, cid: string): Promise<boolean>
  getStream(did: string, cid: string): Promise<Readable>
  getBytes(did: string, cid: string): Promise<Uint8Array>
  delete(did: string, cid: string): Promise<void>
  deleteTemp(did: string, tempKey: string): Promise<void>
  deleteAll(did: string): Promise<void>
}

export class BlobNotFoundError extends Error {}
