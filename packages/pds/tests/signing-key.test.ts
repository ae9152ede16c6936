/**
 * The repo signing key signs with libsecp256k1 (N-API, or WASM where the
 * binding is missing). Both must give @atproto/crypto's signatures byte for
 * byte (RFC 6979 makes them deterministic), and those must verify.
 */
import crypto from 'node:crypto'
import * as ecc from 'tiny-secp256k1'
import { Secp256k1Keypair, verifySignature } from '@atproto/crypto'
import { nativeK256Sign } from '@atsuite/common/signature'
import { RepoSigningKey } from '../src/actor-store/signing-key.ts'

test('the N-API binding is there (the fast path is the one in use)', () => {
  expect(nativeK256Sign).not.toBeNull()
})

test('signatures are @atproto/crypto’s, byte for byte, on both builds, and verify', async () => {
  for (let k = 0; k < 5; k++) {
    const reference = await Secp256k1Keypair.create({ exportable: true })
    const ours = await RepoSigningKey.fromKeypair(reference)
    const privateKey = await reference.export()
    expect(ours.did()).toBe(reference.did())
    for (let i = 0; i < 40; i++) {
      const msg = crypto.randomBytes(1 + Math.floor(Math.random() * 300))
      const expected = Buffer.from(await reference.sign(msg))
      expect(Buffer.from(await ours.sign(msg))).toEqual(expected)
      const hash = crypto.hash('sha256', msg, 'buffer')
      expect(Buffer.from(nativeK256Sign!(hash, privateKey))).toEqual(expected)
      expect(Buffer.from(ecc.sign(hash, privateKey))).toEqual(expected)
      expect(await verifySignature(reference.did(), msg, expected)).toBe(true)
    }
  }
})
