import { Client, createOp, updateHandleOp, type DocumentData } from '@did-plc/lib'
import type { Secp256k1Keypair } from '@atproto/crypto'
import { InvalidRequest } from '../errors.ts'

/**
 * did:plc operations signed by this PDS's rotation key, against any PLC
 * directory URL (our packages/plc locally, plc.directory in production).
 */
export class PlcIdentity {
  readonly client: Client
  private readonly rotationKey: Secp256k1Keypair

  constructor(plcUrl: string, rotationKey: Secp256k1Keypair) {
    this.client = new Client(plcUrl)
    this.rotationKey = rotationKey
  }

  get rotationKeyDid(): string {
    return this.rotationKey.did()
  }

  /** Builds a signed genesis op; nothing is sent yet. */
  async formatCreate(opts: { signingKeyDid: string; handle: string; pdsUrl: string; recoveryKey?: string }) {
    const rotationKeys = [this.rotationKey.did()]
    if (opts.recoveryKey) rotationKeys.unshift(opts.recoveryKey)
    return createOp({
      signingKey: opts.signingKeyDid,
      handle: opts.handle,
      pds: opts.pdsUrl,
      rotationKeys,
      signer: this.rotationKey as never,
    })
  }

  async send(did: string, op: unknown): Promise<void> {
    try {
      await this.client.sendOperation(did, op as never)
    } catch (err) {
      const e = err as { status?: number; message?: string; data?: { message?: string } }
      if (e.status && e.status >= 400 && e.status < 500) {
        throw new InvalidRequest(`PLC directory refused the operation: ${e.data?.message ?? e.message}`)
      }
      throw err
    }
  }

  async updateHandle(did: string, handle: string): Promise<void> {
    const last = await this.client.getLastOp(did)
    if (last.type === 'plc_tombstone') throw new InvalidRequest(`DID is tombstoned: ${did}`)
    const op = await updateHandleOp(last, this.rotationKey as never, handle)
    await this.send(did, op)
  }

  async getData(did: string): Promise<DocumentData> {
    return this.client.getDocumentData(did)
  }
}
