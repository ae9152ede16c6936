import { CBOR_DATA_CODEC, SHA256_HASH_CODE, createCid, parseCid, type Cid } from '@atproto/lex-data'
import { sha256 } from '@atsuite/common'

export { carHeader, encodeCar, pushCarBlock } from '@atsuite/common'

/**
 * The CID of DAG-CBOR bytes (CIDv1, sha-256): lex-data's `cidForCbor`,
 * synchronously, through one `crypto.hash` call instead of a Hash object and a
 * promise (a write computes two: its record's and its commit's).
 */
export const cborCid = (bytes: Uint8Array): Cid => createCid(CBOR_DATA_CODEC, SHA256_HASH_CODE, sha256(bytes)) as Cid

const B32 = new Int8Array(128).fill(-1)
'abcdefghijklmnopqrstuvwxyz234567'.split('').forEach((c, i) => (B32[c.charCodeAt(0)] = i))

/**
 * The bytes of a CID stored as its base32 string (`b...`, what the block
 * table keys by). A direct decode: parsing thousands of keys through the
 * general multibase codec dominated getRepo. Anything unusual goes through
 * the full parser.
 */
export const cidBytes = (str: string): Uint8Array => {
  if (str[0] !== 'b') return parseCid(str).bytes
  const out = Buffer.allocUnsafe(Math.floor(((str.length - 1) * 5) / 8))
  let bits = 0
  let value = 0
  let o = 0
  for (let i = 1; i < str.length; i++) {
    const code = str.charCodeAt(i)
    const v = code < 128 ? B32[code] : -1
    if (v < 0) return parseCid(str).bytes
    value = (value << 5) | v
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out[o++] = (value >>> bits) & 0xff
    }
  }
  return out.subarray(0, o)
}
