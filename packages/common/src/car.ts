import crypto from 'node:crypto'
import { CborError, CidRef, decodeCbor, isMap } from './dag-cbor.ts'

// CARv1 writing, synchronously into whole buffers (firehose events, getRepo,
// resync): no per-block stream writes. CIDs are taken as their bytes, so any
// CID type (multiformats, @atproto/lex-data, raw byte views) works.

type CidLike = { bytes: Uint8Array }

export const varint = (n: number): Buffer => {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Buffer.from(out)
}

/**
 * The DAG-CBOR header `{roots: [root], version: 1}` (canonical key order),
 * without its length prefix: the exact bytes every conforming writer
 * produces, so readers may compare against it.
 */
export const carHeaderBody = (root: CidLike): Buffer => {
  const len = root.bytes.length + 1 // tag-42 bytes start with the 0x00 multibase prefix
  return Buffer.concat([
    Buffer.from([0xa2, 0x65, 0x72, 0x6f, 0x6f, 0x74, 0x73, 0x81, 0xd8, 0x2a]), // map(2) "roots" array(1) tag(42)
    Buffer.from(len < 24 ? [0x40 + len] : [0x58, len]),
    Buffer.from([0]),
    root.bytes,
    Buffer.from([0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x01]), // "version" 1
  ])
}

/** The CAR header section: length prefix and header. */
export const carHeader = (root: CidLike): Buffer => {
  const body = carHeaderBody(root)
  return Buffer.concat([varint(body.length), body])
}

/** Appends one block section (varint length, CID bytes, block bytes) to `parts`. */
export const pushCarBlock = (parts: Uint8Array[], cidBytes: Uint8Array, bytes: Uint8Array): void => {
  parts.push(varint(cidBytes.length + bytes.length), cidBytes, bytes)
}

/** A whole CARv1 with one root; blocks in the order given, a repeated CID written once. */
export const encodeCar = (root: CidLike, blocks: Iterable<readonly [CidLike, Uint8Array]>): Uint8Array => {
  const parts: Uint8Array[] = [carHeader(root)]
  const seen = new Set<string>()
  for (const [cid, bytes] of blocks) {
    const key = Buffer.from(cid.bytes).toString('latin1')
    if (seen.has(key)) continue
    seen.add(key)
    pushCarBlock(parts, cid.bytes, bytes)
  }
  return Buffer.concat(parts)
}


// Reading: synchronous CARv1 parsing for firehose events: one pass, every block's
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

/**
 * The CID of DAG-CBOR bytes (CIDv1, sha-256), synchronously. Its bytes have a
 * backing store of their own: a CID often lives as long as the tree it names,
 * and a slice of Node's shared 64 KiB allocation pool would keep the whole
 * pool alive with it.
 */
export const cidForCbor = (bytes: Uint8Array): CidRef => {
  const out = Buffer.allocUnsafeSlow(36)
  CID_PREFIX.copy(out, 0)
  sha256(bytes).copy(out, 4)
  return new CidRef(out)
}

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

/**
 * Checks the CID prefix at `pos` (CIDv1, dag-cbor or raw, sha-256 of 32
 * bytes) and returns where its digest starts.
 */
const cidDigestAt = (bytes: Uint8Array, pos: number): number => {
  let version: number, codec: number, hashCode: number, digestLen: number
  ;[version, pos] = readVarint(bytes, pos)
  ;[codec, pos] = readVarint(bytes, pos)
  ;[hashCode, pos] = readVarint(bytes, pos)
  ;[digestLen, pos] = readVarint(bytes, pos)
  if (version !== 1 || (codec !== DAG_CBOR && codec !== RAW) || hashCode !== SHA256 || digestLen !== 32) {
    throw new CarError('unsupported CID in CAR block')
  }
  return pos
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
 * (a canonical header naming it) cheaper. `verified`: the bytes were
 * checked already (a relay's own log): framing only, no hashing.
 */
export const parseCar = (bytes: Uint8Array, expectedRoot?: CidRef, opts: { verified?: boolean } = {}): ParsedCar => {
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
    pos = cidDigestAt(bytes, pos)
    const digestEnd = pos + 32
    if (digestEnd > end) throw new CarError('truncated CID in CAR block')
    const data = bytes.subarray(digestEnd, end)
    const digest = Buffer.from(bytes.buffer, bytes.byteOffset + pos, 32)
    if (!opts.verified && !sha256(data).equals(digest)) throw new CarError('CAR block does not match its CID')
    blocks.set(Buffer.from(bytes.buffer, bytes.byteOffset + cidStart, digestEnd - cidStart).toString('latin1'), data)
    pos = end
  }
  return { roots, blocks }
}

/** Alias of encodeCar, the name the relay's verification code uses. */
export const writeCar = encodeCar

/** One block of a streamed CAR: the CID's bytes and the block's bytes (hash checked). */
export type CarBlock = { cid: Uint8Array; data: Uint8Array }

/** Blocks larger than this end a streamed CAR with an error (records are ≤ 1 MiB; MST nodes are small). */
const MAX_STREAM_BLOCK = 4 * 1024 * 1024

/**
 * Reads a CARv1 from a byte stream (an HTTP request body) one block at a
 * time, with the same checks as parseCar: memory stays at one block plus one
 * chunk whatever the CAR's size. `header()` first, then `blocks()`.
 */
export class CarStream {
  private readonly it: AsyncIterator<Uint8Array>
  private buf: Buffer = Buffer.alloc(0)
  private pos = 0
  private ended = false
  /** bytes taken from the source so far */
  bytesRead = 0

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]()
  }

  /** Makes n bytes available at pos; false when the source ends first. */
  private async fill(n: number): Promise<boolean> {
    if (this.buf.length - this.pos >= n) return true
    const parts: Buffer[] = [this.buf.subarray(this.pos)]
    let have = this.buf.length - this.pos
    while (have < n && !this.ended) {
      const r = await this.it.next()
      if (r.done) {
        this.ended = true
        break
      }
      const chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength)
      this.bytesRead += chunk.length
      parts.push(chunk)
      have += chunk.length
    }
    this.buf = parts.length === 1 ? parts[0] : Buffer.concat(parts)
    this.pos = 0
    return have >= n
  }

  /** A varint at pos, or null at a clean end of the stream. */
  private async varint(): Promise<number | null> {
    if (!(await this.fill(1))) return null
    await this.fill(9)
    const [value, next] = readVarint(this.buf, this.pos)
    this.pos = next
    return value
  }

  async header(): Promise<CidRef[]> {
    const len = await this.varint()
    if (len === null || len === 0) throw new CarError('empty CAR (no header)')
    if (len > 64 * 1024) throw new CarError('bad CAR header length')
    if (!(await this.fill(len))) throw new CarError('truncated CAR header')
    const roots = readHeader(this.buf.subarray(this.pos, this.pos + len), undefined)
    this.pos += len
    return roots
  }

  async *blocks(): AsyncGenerator<CarBlock, void, undefined> {
    for (;;) {
      const len = await this.varint()
      if (len === null) return
      if (len === 0) throw new CarError('empty CAR block section')
      if (len > MAX_STREAM_BLOCK) throw new CarError(`CAR block of ${len} bytes is over the ${MAX_STREAM_BLOCK}-byte limit`)
      if (!(await this.fill(len))) throw new CarError('truncated CAR block')
      const bytes = this.buf.subarray(this.pos, this.pos + len)
      this.pos += len
      const p = cidDigestAt(bytes, 0)
      if (p + 32 > bytes.length) throw new CarError('truncated CID in CAR block')
      const data = bytes.subarray(p + 32)
      if (!sha256(data).equals(bytes.subarray(p, p + 32))) throw new CarError('CAR block does not match its CID')
      yield { cid: bytes.subarray(0, p + 32), data }
    }
  }
}
