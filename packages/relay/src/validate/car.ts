import crypto from 'node:crypto'
import { CborError, CidRef, decodeCbor, isMap } from './dag-cbor.ts'
// the CAR writer alone: verification worker threads load this file, not all of common
import { carHeaderBody, encodeCar } from '@atsuite/common/car'

// Synchronous CARv1 parsing for firehose events: one pass, every block's
// sha-256 checked against its CID, CIDs kept as byte slices. @atproto/repo's
// readCar is async (an async generator that yields to the event loop every
// 25 blocks), which is the wrong shape for a hot path handling thousands of
// small CARs a second.

export const DAG_CBOR = 0x71
export const RAW = 0x55
const SHA256 = 0x12

/** Blocks keyed by the CID's raw bytes as a latin1 string (CidRef.key): cheap to build, exact to compare. */
export type BlockMap = Map<string, Uint8Array>

export class CarError extends Error {}

export const cidKey = (cid: { bytes: Uint8Array }): string =>
  Buffer.from(cid.bytes.buffer, cid.bytes.byteOffset, cid.bytes.byteLength).toString('latin1')

export const sha256 = (bytes: Uint8Array): Buffer => crypto.hash('sha256', bytes, 'buffer')

const CID_PREFIX = Buffer.from([0x01, DAG_CBOR, SHA256, 0x20])

/** The CID of DAG-CBOR bytes (CIDv1, sha-256), synchronously. */
export const cidForCbor = (bytes: Uint8Array): CidRef => new CidRef(Buffer.concat([CID_PREFIX, sha256(bytes)]))

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

export type ParsedCar = { roots: CidRef[]; blocks: BlockMap }

/** The canonical header of a one-root CAR: {roots: [root], version: 1}. */
const readHeader = (bytes: Uint8Array, expectedRoot: CidRef | undefined): CidRef[] => {
  if (expectedRoot) {
    const expected = carHeaderBody(expectedRoot)
    if (Buffer.compare(expected, bytes) === 0) return [expectedRoot]
  }
  let header
  try {
    header = decodeCbor(bytes)
  } catch (err) {
    if (err instanceof CborError) throw new CarError(`bad CAR header: ${err.message}`)
    throw err
  }
  if (!isMap(header) || header.version !== 1 || !Array.isArray(header.roots)) throw new CarError('bad CAR header')
  const roots = header.roots
  if (!roots.every((r) => r instanceof CidRef)) throw new CarError('bad CAR roots')
  return roots as CidRef[]
}

/**
 * Parses a CARv1. Always checks: framing, CIDv1 with dag-cbor or raw codec
 * and a sha-256 multihash, and that each block hashes to its CID. Never
 * checks what the blocks mean. `expectedRoot` only makes the usual case
 * (a canonical header naming it) cheaper.
 */
export const parseCar = (bytes: Uint8Array, expectedRoot?: CidRef): ParsedCar => {
  let pos = 0
  let headerLen: number
  ;[headerLen, pos] = readVarint(bytes, pos)
  if (headerLen === 0 || pos + headerLen > bytes.length) throw new CarError('bad CAR header length')
  const roots = readHeader(bytes.subarray(pos, pos + headerLen), expectedRoot)
  pos += headerLen
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

/** A CARv1 with one root from already-encoded blocks (common's writer). */
export const writeCar = encodeCar
