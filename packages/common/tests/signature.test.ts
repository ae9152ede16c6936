/**
 * SignatureVerifier against @atproto/crypto's verifySignature: the same
 * answer for valid signatures, other keys, other messages, tampered and
 * high-S signatures, for secp256k1 (native, keys given compressed) and P-256
 * (OpenSSL), with each key's parse cached across calls.
 */
import crypto from 'node:crypto'
import { P256Keypair, Secp256k1Keypair, verifySignature, type Keypair } from '@atproto/crypto'
import { SignatureVerifier } from '../src/signature.ts'

const sha256 = (b: Uint8Array) => crypto.hash('sha256', b, 'buffer')

const N = {
  k256: BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141'),
  p256: BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'),
}

/** The same signature with s replaced by n − s (valid ECDSA, but high-S: atproto refuses it). */
const highS = (sig: Uint8Array, n: bigint): Uint8Array => {
  const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'))
  const out = new Uint8Array(sig)
  out.set(Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'), 32)
  return out
}

test.each([
  ['secp256k1', () => Secp256k1Keypair.create(), N.k256],
  ['P-256', () => P256Keypair.create(), N.p256],
])('%s: the same verdicts as @atproto/crypto', async (_name, create: () => Promise<Keypair>, n: bigint) => {
  const verifier = new SignatureVerifier()
  const keys = await Promise.all(Array.from({ length: 4 }, create))
  for (let i = 0; i < 40; i++) {
    const key = keys[i % keys.length]
    const other = keys[(i + 1) % keys.length]
    const msg = crypto.randomBytes(20 + i)
    const sig = await key.sign(msg)
    const cases: [string, Uint8Array, Uint8Array][] = [
      [key.did(), msg, sig],
      [other.did(), msg, sig],
      [key.did(), crypto.randomBytes(20 + i), sig],
      [key.did(), msg, Uint8Array.from(sig, (b, j) => (j === 10 ? b ^ 1 : b))],
      [key.did(), msg, highS(sig, n)],
    ]
    for (const [didKey, data, s] of cases) {
      const expected = await verifySignature(didKey, data, s)
      expect(verifier.verify(didKey, data, sha256(data), s)).toBe(expected)
    }
    expect(verifier.verify(key.did(), msg, sha256(msg), sig)).toBe(true)
    expect(verifier.verify(key.did(), msg, sha256(msg), highS(sig, n))).toBe(false)
  }
  expect(verifier.verify('did:key:zNotAKey', new Uint8Array(1), sha256(new Uint8Array(1)), new Uint8Array(64))).toBe(false)
})
