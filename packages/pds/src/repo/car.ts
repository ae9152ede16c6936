import { encode as cborEncode } from '@atproto/lex-cbor'
import { parseCid, type Cid } from '@atproto/lex-data'

// CARv1 writing for the hot paths (firehose events, getRepo): whole buffers
// built synchronously instead of one small write per varint/CID/block.

const varint = (n: number): Buffer => {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Buffer.from(out)
}

export const carHeader = (root: Cid): Buffer => {
  const header = cborEncode({ version: 1, roots: [root] } as never)
  return Buffer.concat([varint(header.length), header])
}

/** Appends one block section (varint length, CID bytes, block bytes) to `parts`. */
export const pushCarBlock = (parts: Uint8Array[], cidBytes: Uint8Array, bytes: Uint8Array): void => {
  parts.push(varint(cidBytes.length + bytes.length), cidBytes, bytes)
}

/** A CARv1 file in memory, synchronously; duplicate CIDs are written once. */
export const encodeCar = (root: Cid, blocks: Iterable<[Cid, Uint8Array]>): Uint8Array => {
  const parts: Uint8Array[] = [carHeader(root)]
  const seen = new Set<string>()
  for (const [cid, bytes] of blocks) {
    const key = cid.toString()
    if (seen.has(key)) continue
    seen.add(key)
    pushCarBlock(parts, cid.bytes, bytes)
  }
  return Buffer.concat(parts)
}

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
