import { encode as libEncode } from '@atproto/lex-cbor'
import { ifCid } from '@atproto/lex-data'
import { CidRef } from './dag-cbor.ts'

// A direct DAG-CBOR writer for the values a PDS encodes on every write (a
// record, its commit, the firehose event): @atproto/lex-cbor's `encode` (cborg)
// builds a token object for every value and then writes the tokens; this
// writes the bytes as it walks, into one buffer. Byte for byte the library's
// output for the data model it accepts — null, booleans, safe integers, text,
// bytes, CIDs (tag 42), arrays, maps with text keys in canonical order (shorter
// first, then bytewise), `undefined` properties left out — held to it by
// tests/dag-cbor-encode.test.ts over random values and the data-model vectors.
// Whatever else it meets (a float, `undefined` in an array, a class instance
// that is not a CID, a cycle…) throws `NotEncodable`: callers then ask the
// library, whose answer (bytes or its own error) stands.

export class NotEncodable extends Error {}

const MAX_DEPTH = 128

/**
 * Writes DAG-CBOR into one growing buffer: heads in their shortest form and
 * values as they come (the caller puts map keys in canonical order). Shared
 * by the encoder below, the MST's node encoder and the benchmark's frame
 * generator.
 */
export class CborWriter {
  buf: Buffer
  pos = 0

  constructor(size = 1024) {
    this.buf = Buffer.allocUnsafe(size)
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** A head: major type and argument, in its shortest form. */
  head(major: number, n: number): this {
    this.ensure(9)
    const b = this.buf
    const m = major << 5
    if (n < 24) {
      b[this.pos++] = m | n
    } else if (n < 0x100) {
      b[this.pos++] = m | 24
      b[this.pos++] = n
    } else if (n < 0x10000) {
      b[this.pos++] = m | 25
      b[this.pos++] = n >>> 8
      b[this.pos++] = n & 0xff
    } else if (n < 0x100000000) {
      b[this.pos++] = m | 26
      b.writeUInt32BE(n, this.pos)
      this.pos += 4
    } else {
      b[this.pos++] = m | 27
      b.writeUInt32BE(Math.floor(n / 0x100000000), this.pos)
      b.writeUInt32BE(n >>> 0, this.pos + 4)
      this.pos += 8
    }
    return this
  }

  /** A safe integer (a negative one as major type 1). */
  int(n: number): this {
    return n >= 0 ? this.head(0, n) : this.head(1, -1 - n)
  }

  uint(n: number): this {
    return this.head(0, n)
  }

  text(s: string): this {
    const len = isAscii(s) ? s.length : Buffer.byteLength(s, 'utf8')
    this.head(3, len)
    this.ensure(len)
    this.buf.write(s, this.pos, len, len === s.length ? 'latin1' : 'utf8')
    this.pos += len
    return this
  }

  bytes(bytes: Uint8Array): this {
    this.head(2, bytes.length)
    this.ensure(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
    return this
  }

  /** A byte string holding a latin1 string's code units (an MST key suffix). */
  latin1Bytes(s: string): this {
    this.head(2, s.length)
    this.ensure(s.length)
    this.pos += this.buf.write(s, this.pos, 'latin1')
    return this
  }

  /** A CID link: tag 42 around the CID's bytes behind a 0x00 prefix. */
  cid(bytes: Uint8Array): this {
    this.ensure(3)
    this.buf[this.pos++] = 0xd8 // tag, one-byte argument
    this.buf[this.pos++] = 42
    this.head(2, bytes.length + 1)
    this.ensure(bytes.length + 1)
    this.buf[this.pos++] = 0 // the DAG-CBOR CID prefix
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
    return this
  }

  map(n: number): this {
    return this.head(5, n)
  }

  array(n: number): this {
    return this.head(4, n)
  }

  null(): this {
    this.ensure(1)
    this.buf[this.pos++] = 0xf6
    return this
  }

  bool(v: boolean): this {
    this.ensure(1)
    this.buf[this.pos++] = v ? 0xf5 : 0xf4
    return this
  }

  /** Bytes appended as they are (a value encoded before). */
  raw(bytes: Uint8Array): this {
    this.ensure(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
    return this
  }

  /** A copy of what was written, and the writer empty again. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos))
    this.pos = 0
    return out
  }
}

const isAscii = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/** Canonical key order: shorter UTF-8 first, then bytewise. */
const compareKeys = (a: string, b: string): number => {
  if (isAscii(a) && isAscii(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
  const ab = Buffer.from(a, 'utf8')
  const bb = Buffer.from(b, 'utf8')
  return ab.length - bb.length || Buffer.compare(ab, bb)
}

const write = (w: CborWriter, v: unknown, depth: number): void => {
  switch (typeof v) {
    case 'string':
      w.text(v)
      return
    case 'number':
      if (!Number.isSafeInteger(v)) throw new NotEncodable(`not an integer: ${v}`)
      w.int(v)
      return
    case 'boolean':
      w.bool(v)
      return
    case 'object':
      break
    default:
      throw new NotEncodable(`not encodable: ${typeof v}`)
  }
  if (v === null) {
    w.null()
    return
  }
  if (depth >= MAX_DEPTH) throw new NotEncodable('nested too deep')
  if (Array.isArray(v)) {
    w.array(v.length)
    for (let i = 0; i < v.length; i++) write(w, v[i], depth + 1)
    return
  }
  if (v instanceof Uint8Array) {
    w.bytes(v)
    return
  }
  if (v instanceof CidRef) {
    w.cid(v.bytes)
    return
  }
  const proto = Object.getPrototypeOf(v) as unknown
  if (proto === Object.prototype || proto === null) {
    const obj = v as Record<string, unknown>
    const keys: string[] = []
    for (const k in obj) if (obj[k] !== undefined) keys.push(k)
    if (keys.length > 1) keys.sort(compareKeys)
    w.map(keys.length)
    for (const k of keys) {
      w.text(k)
      write(w, obj[k], depth + 1)
    }
    return
  }
  const cid = ifCid(v)
  if (cid) {
    w.cid(cid.bytes)
    return
  }
  throw new NotEncodable(`not encodable: ${(proto as { constructor?: { name?: string } })?.constructor?.name ?? 'object'}`)
}

/**
 * The DAG-CBOR bytes of `value`, as @atproto/lex-cbor's `encode` gives them;
 * throws NotEncodable for anything outside the subset above (see the file's
 * head). The bytes are a view of their own buffer. `prefix` (an event frame's
 * header) is written first, in the same buffer.
 */
export const encodeDagCbor = (value: unknown, sizeHint = 256, prefix?: Uint8Array): Buffer => {
  const w = new CborWriter(sizeHint + (prefix?.length ?? 0))
  if (prefix) w.raw(prefix)
  write(w, value, 0)
  return w.buf.subarray(0, w.pos)
}

/**
 * `encodeDagCbor`, or for a value outside its subset @atproto/lex-cbor's
 * `encode` (whose bytes or error stand): a drop-in for the library's
 * `encode` where most values are plain data.
 */
export const encodeCbor = (value: unknown, sizeHint?: number, prefix?: Uint8Array): Uint8Array => {
  try {
    return encodeDagCbor(value, sizeHint, prefix)
  } catch (err) {
    if (!(err instanceof NotEncodable)) throw err
    const bytes = libEncode(value as never)
    return prefix ? Buffer.concat([prefix, bytes]) : bytes
  }
}
