import type { Secp256k1Keypair } from '@atproto/crypto'
import type { DidString } from '@atproto/syntax'
import { InvalidRequest } from '../errors.ts'
import { checkedDid } from './did.ts'
import { PlcClient, PlcClientError, createPlcOp, updatePlcOp, withHandle, type PlcDocumentData, type PlcOp } from './plc-ops.ts'

/**
 * did:plc operations signed by this PDS's rotation key, against any PLC
 * directory URL (our packages/plc locally, plc.directory in production).
 */
export class PlcIdentity {
  readonly client: PlcClient
  private readonly rotationKey: Secp256k1Keypair

  constructor(plcUrl: string, rotationKey: Secp256k1Keypair) {
    this.client = new PlcClient(plcUrl)
    this.rotationKey = rotationKey
  }

  get rotationKeyDid(): string {
    return this.rotationKey.did()
  }

  /** Builds a signed genesis op; nothing is sent yet. */
  async formatCreate(opts: { signingKeyDid: string; handle: string; pdsUrl: string; recoveryKey?: string }): Promise<{ did: DidString; op: PlcOp }> {
    const rotationKeys = [this.rotationKey.did()]
    if (opts.recoveryKey) rotationKeys.unshift(opts.recoveryKey)
    const { did, op } = await createPlcOp({
      signingKey: opts.signingKeyDid,
      handle: opts.handle,
      pds: opts.pdsUrl,
      rotationKeys,
      signer: this.rotationKey,
    })
    return { did: checkedDid(did), op }
  }

  async send(did: string, op: unknown): Promise<void> {
    try {
      await this.client.sendOperation(did, op)
    } catch (err) {
      if (err instanceof PlcClientError && err.status >= 400 && err.status < 500) {
        throw new InvalidRequest(`PLC directory refused the operation: ${err.message}`)
      }
      throw err
    }
  }

  async updateHandle(did: string, handle: string): Promise<void> {
    const last = await this.lastOp(did)
    await this.send(did, await updatePlcOp(last, this.rotationKey, (current) => ({ ...current, alsoKnownAs: withHandle(current.alsoKnownAs, handle) })))
  }

  /**
   * Points the document's `#atproto` verification method at `key` (a
   * did:key; not checked here). Only the document changes: the repo keeps
   * signing with its own key.
   */
  async updateAtprotoKey(did: string, key: string): Promise<void> {
    const last = await this.lastOp(did)
    await this.send(
      did,
      await updatePlcOp(last, this.rotationKey, (current) => ({ ...current, verificationMethods: { ...current.verificationMethods, atproto: key } })),
    )
  }

  /**
   * An update of the document, signed with this server's rotation key, on top
   * of the last operation: the fields given replace the current ones. Not sent.
   */
  async signUpdate(
    did: string,
    fields: {
      rotationKeys?: string[]
      alsoKnownAs?: string[]
      verificationMethods?: Record<string, string>
      services?: Record<string, { type: string; endpoint: string }>
    },
  ): Promise<PlcOp> {
    const last = await this.lastOp(did)
    return updatePlcOp(last, this.rotationKey, (current) => {
      if (!current.rotationKeys.includes(this.rotationKey.did())) {
        throw new InvalidRequest(`this server's rotation key is not among ${did}'s rotation keys: it cannot sign for it`)
      }
      return {
      ...current,
      rotationKeys: fields.rotationKeys ?? current.rotationKeys,
      alsoKnownAs: fields.alsoKnownAs ?? current.alsoKnownAs,
      verificationMethods: fields.verificationMethods ?? current.verificationMethods,
      services: fields.services ?? current.services,
      }
    })
  }

  private async lastOp(did: string) {
    const last = await this.client.getLastOp(did)
    if (last.type === 'plc_tombstone') throw new InvalidRequest(`DID is tombstoned: ${did}`)
    return last
  }

  async getData(did: string): Promise<PlcDocumentData> {
    return this.client.getDocumentData(did)
  }
}
