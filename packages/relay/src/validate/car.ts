import { createHash } from 'node:crypto'
import { decode as cborDecode, encode as cborEncode } from '@atproto/lex-cbor'
import { createCid, decodeCid, type Cid } from '@atproto/lex-data'

// Synchronous CARv1 parsing for firehose events: one pass, every block's
// sha-256 checked against its CID. @atproto/repo's readCar is async (an
// async generator that yields to the event loop every 25 blocks), which is
// the wrong shape for a hot path handling thousands of small CARs a second.

export const DAG_CBOR = 0x71
export const RAW = 0x55
const SHA256 = 0x12

/** Blocks keyed by the CID's raw bytes (as a latin1 string: cheap to build, exact to compare). */
export type BlockMap = Map<string, Uint8Array>

export class CarError extends Error {}

export const cidKey = (cid: { bytes: Uint8Array }): string =>
  Buffer.from(cid.bytes.buffer, cid.bytes.byteOffset, cid.bytes.byteLength).toString('latin1')

export const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest()

/** The CID of DAG-CBOR bytes (CIDv1, sha-256), synchronously. */
export const cidForCbor = (bytes: Uint8Array): Cid => createCid(DAG_CBOR, SHA256, sha256(bytes))

const readVarint = (bytes: Uint8Array, pos: number): [number, number] => {
  let value = 0
  let shift = 1
  for (let i = 0; i < 8; i++) {
    if (pos >= bytes.length) throw new CarError('truncated varint')
    const b = bytes[pos++]
    value += (b & 0x7f) * shift
    if ((b & 0x80) === 0) return [value, pos]
    shift *= 128
  }
  throw new CarError('varint too long')
}

export type ParsedCar = { roots: Cid[]; blocks: BlockMap }

/**
 * Parses a CARv1. Always checks: framing, CIDv1 with dag-cbor or raw codec
 * and a sha-256 multihash, and that each block hashes to its CID. Never
 * checks what the blocks mean.
 */
export const parseCar = (bytes: Uint8Array): ParsedCar => {
  let pos = 0
  let headerLen: number
  ;[headerLen, pos] = readVarint(bytes, pos)
  if (headerLen === 0 || pos + headerLen > bytes.length) throw new CarError('bad CAR header length')
  let header: unknown
  try {
    header = cborDecode(bytes.subarray(pos, pos + headerLen))
  } catch (err) {
    throw new CarError(`bad CAR header: ${(err as Error).message}`)
  }
  pos += headerLen
  const h = header as { version?: unknown; roots?: unknown }
  if (!h || h.version !== 1 || !Array.isArray(h.roots)) throw new CarError('bad CAR header')
  const roots = h.roots as Cid[]
  const blocks: BlockMap = new Map()
  while (pos < bytes.length) {
    let len: number
    ;[len, pos] = readVarint(bytes, pos)
    const end = pos + len
    if (len === 0 || end > bytes.length) throw new CarError('truncated CAR block')
    const cidStart = pos
    let version: number, codec: number, hashCode: number, digestLen: number
    ;[version, pos] = readVarint(bytes, pos)
    ;[codec, pos] = readVarint(bytes, pos)
    ;[hashCode, pos] = readVarint(bytes, pos)
    ;[digestLen, pos] = readVarint(bytes, pos)
    if (version !== 1 || (codec !== DAG_CBOR && codec !== RAW) || hashCode !== SHA256 || digestLen !== 32) {
      throw new CarError('unsupported CID in CAR block')
    }
    const digestEnd = pos + 32
    if (digestEnd > end) throw new CarError('truncated CID in CAR block')
    const data = bytes.subarray(digestEnd, end)
    const digest = Buffer.from(bytes.buffer, bytes.byteOffset + pos, 32)
    if (!sha256(data).equals(digest)) throw new CarError('CAR block does not match its CID')
    blocks.set(Buffer.from(bytes.buffer, bytes.byteOffset + cidStart, digestEnd - cidStart).toString('latin1'), data)
    pos = end
  }
  return { roots, blocks }
}

/** A Cid from a BlockMap key. */
export const cidFromKey = (key: string): Cid => decodeCid(Buffer.from(key, 'latin1'))

const varintBytes = (n: number): number[] => {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/** A CARv1 with one root from already-encoded blocks. */
export const writeCar = (root: Cid, blocks: Iterable<readonly [Cid, Uint8Array]>): Uint8Array => {
  const header = cborEncode({ version: 1, roots: [root] } as never)
  const parts: Uint8Array[] = [Uint8Array.from(varintBytes(header.length)), header]
  for (const [cid, bytes] of blocks) {
    parts.push(Uint8Array.from(varintBytes(cid.bytes.length + bytes.length)), cid.bytes, bytes)
  }
  return Buffer.concat(parts)
}
