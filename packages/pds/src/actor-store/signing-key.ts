import crypto from 'node:crypto'
import * as ecc from 'tiny-secp256k1'
import { Secp256k1Keypair } from '@atproto/crypto'
import { nativeK256Sign } from '@atsuite/common/signature'

const signHash = nativeK256Sign ?? ((hash: Uint8Array, privateKey: Uint8Array) => ecc.sign(hash, privateKey))

/**
 * A repo signing key that signs with libsecp256k1 (its N-API build, or its
 * WASM build through tiny-secp256k1 where the native one is missing): the
 * same deterministic (RFC 6979), low-S, compact 64-byte signatures as
 * @atproto/crypto's Secp256k1Keypair — byte for byte — at ~40 µs (native) or
 * ~105 µs (WASM), which matters because every commit is signed.
 */
export class RepoSigningKey {
  readonly jwtAlg = 'ES256K'
  private readonly privateKey: Uint8Array
  private readonly didKey: string

  private constructor(privateKey: Uint8Array, didKey: string) {
    this.privateKey = privateKey
    this.didKey = didKey
  }

  static async fromKeypair(keypair: Secp256k1Keypair): Promise<RepoSigningKey> {
    return new RepoSigningKey(await keypair.export(), keypair.did())
  }

  static async fromHex(hex: string): Promise<RepoSigningKey> {
    return RepoSigningKey.fromKeypair(await Secp256k1Keypair.import(hex, { exportable: true }))
  }

  did(): string {
    return this.didKey
  }

  async sign(msg: Uint8Array): Promise<Uint8Array> {
    return signHash(crypto.hash('sha256', msg, 'buffer'), this.privateKey)
  }

  async export(): Promise<Uint8Array> {
    return this.privateKey
  }
}
