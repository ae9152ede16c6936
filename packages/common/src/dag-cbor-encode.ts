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

class Writer {
  buf: Buffer
  pos = 0

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size)
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** A head: major type and argument, in its shortest form. */
  head(major: number, n: number): void {
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
  }

  text(s: string): void {
    const len = isAscii(s) ? s.length : Buffer.byteLength(s, 'utf8')
    this.head(3, len)
    this.ensure(len)
    this.buf.write(s, this.pos, len, len === s.length ? 'latin1' : 'utf8')
    this.pos += len
  }

  bytes(major: number, bytes: Uint8Array): void {
    this.head(major, bytes.length)
    this.ensure(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }

  cid(bytes: Uint8Array): void {
    this.ensure(3)
    this.buf[this.pos++] = 0xd8 // tag, one-byte argument
    this.buf[this.pos++] = 42
    this.head(2, bytes.length + 1)
    this.ensure(bytes.length + 1)
    this.buf[this.pos++] = 0 // the DAG-CBOR CID prefix
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
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

const write = (w: Writer, v: unknown, depth: number): void => {
  switch (typeof v) {
    case 'string':
      return w.text(v)
    case 'number':
      if (!Number.isSafeInteger(v)) throw new NotEncodable(`not an integer: ${v}`)
      if (v >= 0) return w.head(0, v)
      return w.head(1, -1 - v)
    case 'boolean':
      w.ensure(1)
      w.buf[w.pos++] = v ? 0xf5 : 0xf4
      return
    case 'object':
      break
    default:
      throw new NotEncodable(`not encodable: ${typeof v}`)
  }
  if (v === null) {
    w.ensure(1)
    w.buf[w.pos++] = 0xf6
    return
  }
  if (depth >= MAX_DEPTH) throw new NotEncodable('nested too deep')
  if (Array.isArray(v)) {
    w.head(4, v.length)
    for (let i = 0; i < v.length; i++) write(w, v[i], depth + 1)
    return
  }
  if (v instanceof Uint8Array) return w.bytes(2, v)
  if (v instanceof CidRef) return w.cid(v.bytes)
  const proto = Object.getPrototypeOf(v) as unknown
  if (proto === Object.prototype || proto === null) {
    const obj = v as Record<string, unknown>
    const keys: string[] = []
    for (const k in obj) if (obj[k] !== undefined) keys.push(k)
    if (keys.length > 1) keys.sort(compareKeys)
    w.head(5, keys.length)
    for (const k of keys) {
      w.text(k)
      write(w, obj[k], depth + 1)
    }
    return
  }
  const cid = ifCid(v)
  if (cid) return w.cid(cid.bytes)
  throw new NotEncodable(`not encodable: ${(proto as { constructor?: { name?: string } })?.constructor?.name ?? 'object'}`)
}

/**
 * The DAG-CBOR bytes of `value`, as @atproto/lex-cbor's `encode` gives them;
 * throws NotEncodable for anything outside the subset above (see the file's
 * head). The bytes are a view of their own buffer. `prefix` (an event frame's
 * header) is written first, in the same buffer.
 */
export const encodeDagCbor = (value: unknown, sizeHint = 256, prefix?: Uint8Array): Buffer => {
  const w = new Writer(sizeHint + (prefix?.length ?? 0))
  if (prefix) {
    w.buf.set(prefix, 0)
    w.pos = prefix.length
  }
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
