import crypto, { type KeyObject } from 'node:crypto'
import { createRequire } from 'node:module'
import { parseDidKey } from '@atproto/crypto'
import { subsystemLogger } from './logger.ts'

const logger = subsystemLogger('crypto')

// Signature verification (commits, service JWTs), cached per did:key. secp256k1 goes through
// libsecp256k1 (the `secp256k1` package's N-API prebuild: ~70 µs a verify
// here, against ~400 µs for OpenSSL and ~2.5 ms for @noble/curves);
// P-256 goes through OpenSSL. Both require compact 64-byte, low-S
// signatures, as atproto does.

type NativeSecp = {
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array }
  ecdsaVerify(sig: Uint8Array, msg32: Uint8Array, pub: Uint8Array): boolean
  publicKeyConvert(pub: Uint8Array, compressed: boolean): Uint8Array
}

const loadNative = (): NativeSecp | null => {
  try {
    const require = createRequire(import.meta.url)
    // the binding itself, never the package's pure-JS fallback
    return require('secp256k1/bindings') as NativeSecp
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'libsecp256k1 binding unavailable, using OpenSSL for secp256k1')
    return null
  }
}

const native = loadNative()

const HALF_N_K256 = Buffer.from('7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0', 'hex')
const HALF_N_P256 = Buffer.from('7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8', 'hex')

// SubjectPublicKeyInfo prefixes for a compressed (33-byte) or uncompressed (65-byte) point
const SPKI = {
  k256: {
    33: Buffer.from('3036301006072a8648ce3d020106052b8104000a032200', 'hex'),
    65: Buffer.from('3056301006072a8648ce3d020106052b8104000a034200', 'hex'),
  },
  p256: {
    33: Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
    65: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
  },
}

type ParsedKey = { alg: 'k256' | 'p256'; point: Uint8Array; keyObject: KeyObject | null }

const MAX_KEYS = 100_000

export class SignatureVerifier {
  private readonly keys = new Map<string, ParsedKey | null>()

  /**
   * True when `sig` is a valid compact low-S ECDSA signature by `didKey`
   * over `data` (whose sha-256 is `hash`). Never throws: an unparseable key
   * or signature is simply not valid.
   */
  verify(didKey: string, data: Uint8Array, hash: Uint8Array, sig: Uint8Array): boolean {
    const key = this.parse(didKey)
    if (!key || sig.length !== 64) return false
    const s = Buffer.from(sig.buffer, sig.byteOffset + 32, 32)
    if (Buffer.compare(s, key.alg === 'k256' ? HALF_N_K256 : HALF_N_P256) > 0) return false
    try {
      if (key.alg === 'k256' && native) return native.ecdsaVerify(sig, hash, key.point)
      return crypto.verify('sha256', data, { key: key.keyObject!, dsaEncoding: 'ieee-p1363' }, sig)
    } catch {
      return false
    }
  }

  private parse(didKey: string): ParsedKey | null {
    const hit = this.keys.get(didKey)
    if (hit !== undefined) return hit
    let parsed: ParsedKey | null = null
    try {
      const { jwtAlg, keyBytes } = parseDidKey(didKey)
      const alg = jwtAlg === 'ES256K' ? 'k256' : jwtAlg === 'ES256' ? 'p256' : null
      if (alg && (keyBytes.length === 33 || keyBytes.length === 65)) {
        const spki = Buffer.concat([SPKI[alg][keyBytes.length as 33 | 65], keyBytes])
        const needObject = alg === 'p256' || !native
        parsed = {
          alg,
          // libsecp256k1 parses the key on every verify: given uncompressed, it skips the
          // square root that recovers y (~8 of ~63 µs a verify here), done once per key instead
          point: alg === 'k256' && native && keyBytes.length === 33 ? native.publicKeyConvert(keyBytes, false) : keyBytes,
          keyObject: needObject ? crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' }) : null,
        }
      }
    } catch {
      parsed = null
    }
    if (this.keys.size >= MAX_KEYS) this.keys.delete(this.keys.keys().next().value as string)
    this.keys.set(didKey, parsed)
    return parsed
  }
}

/**
 * A secp256k1 signature over a sha-256 `hash` with libsecp256k1's N-API
 * build: deterministic (RFC 6979), low-S, compact 64 bytes, the same bytes
 * as @atproto/crypto and the WASM build of the same library, at ~40 µs
 * instead of ~105 µs (WASM). Null when the binding is unavailable: the
 * caller signs some other way.
 */
export const nativeK256Sign: ((hash: Uint8Array, privateKey: Uint8Array) => Uint8Array) | null = native
  ? (hash, privateKey) => native.ecdsaSign(hash, privateKey).signature
  : null

/**
 * xrpc-server's `verifyJwt` signature check through a SignatureVerifier: a
 * service JWT's ES256K signature in ~70 µs instead of the ~4.5 ms of
 * @atproto/crypto's pure-JS verify (per request, on every authenticated call).
 */
export const jwtSignatureCheck =
  (verifier: SignatureVerifier) =>
  async (key: string, msgBytes: Uint8Array, sigBytes: Uint8Array): Promise<boolean> =>
    verifier.verify(key, msgBytes, crypto.hash('sha256', msgBytes, 'buffer'), sigBytes)
