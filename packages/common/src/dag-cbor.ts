import { isUtf8 } from 'node:buffer'

// A small strict DAG-CBOR reader for the relay's hot path (event frames, commit
// blocks, MST nodes). CIDs stay as byte slices (CidRef) and byte strings are
// views into the input, so reading a frame allocates little. Strict: minimal
// integer and length encodings, definite lengths only, text map keys in
// canonical order (shorter first, then bytewise) without duplicates, tag 42
// only, no floats or undefined, nesting depth ≤ 32. Anything else throws
// CborError — input from upstream hosts is never trusted to be well formed.

export class CborError extends Error {}

const BASE32 = Buffer.from('abcdefghijklmnopqrstuvwxyz234567', 'latin1')
const CID_SCRATCH = Buffer.allocUnsafe(128)

/** A CID as its binary form (CIDv1 bytes, without the DAG-CBOR 0x00 prefix). */
export class CidRef {
  readonly bytes: Uint8Array
  private str: string | undefined
  private k: string | undefined

  constructor(bytes: Uint8Array) {
    this.bytes = bytes
  }

  /** Lookup key (the raw bytes as latin1), as car.ts keys blocks. */
  get key(): string {
    this.k ??= Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength).toString('latin1')
    return this.k
  }

  equals(other: { bytes: Uint8Array } | null | undefined): boolean {
    if (!other) return false
    const a = this.bytes
    const b = other.bytes
    if (a.length !== b.length) return false
    for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false
    return true
  }

  /** base32 multibase string (`b…`), as CIDv1 strings are written. */
  toString(): string {
    if (this.str !== undefined) return this.str
    const bytes = this.bytes
    // written into one scratch buffer and read out as a single string: one allocation, not one per character
    const len = 1 + Math.ceil((bytes.length * 8) / 5)
    const out = len <= CID_SCRATCH.length ? CID_SCRATCH : Buffer.allocUnsafe(len)
    out[0] = 0x62 // 'b'
    let o = 1
    let bits = 0
    let value = 0
    for (let i = 0; i < bytes.length; i++) {
      value = (value << 8) | bytes[i]
      bits += 8
      while (bits >= 5) {
        out[o++] = BASE32[(value >>> (bits - 5)) & 31]
        bits -= 5
      }
      value &= (1 << bits) - 1
    }
    if (bits > 0) out[o++] = BASE32[(value << (5 - bits)) & 31]
    this.str = out.toString('latin1', 0, o)
    return this.str
  }

  toJSON(): { $link: string } {
    return { $link: this.toString() }
  }
}

export type CborValue = null | boolean | number | string | Uint8Array | CidRef | CborValue[] | { [key: string]: CborValue }
export type CborMap = { [key: string]: CborValue }

const MAX_DEPTH = 32
const MAX_CACHED_KEY = 24
const KEY_CACHE: (string | undefined)[] = new Array(1024).fill(undefined)

class Reader {
  readonly buf: Buffer
  pos: number
  /** set while reading the top-level map of a frame body: where `seq`'s value sits */
  seqStart = -1
  seqEnd = -1

  constructor(buf: Uint8Array, pos = 0) {
    this.buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
    this.pos = pos
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new CborError('truncated CBOR')
  }

  /** the major type of the last head read (`head()`); a field, not a tuple, so reading a head allocates nothing */
  major = 0

  /** Reads an item head: sets `major`, returns its argument. */
  head(): number {
    this.need(1)
    const b = this.buf[this.pos++]
    const major = b >> 5
    const ai = b & 0x1f
    this.major = major
    if (ai < 24) return ai
    const buf = this.buf
    let v: number
    if (ai === 24) {
      this.need(1)
      v = buf[this.pos++]
      if (v < 24) throw new CborError('non-minimal CBOR integer')
    } else if (ai === 25) {
      this.need(2)
      v = (buf[this.pos] << 8) | buf[this.pos + 1]
      this.pos += 2
      if (v < 0x100) throw new CborError('non-minimal CBOR integer')
    } else if (ai === 26) {
      this.need(4)
      v = buf[this.pos] * 0x1000000 + ((buf[this.pos + 1] << 16) | (buf[this.pos + 2] << 8) | buf[this.pos + 3])
      this.pos += 4
      if (v < 0x10000) throw new CborError('non-minimal CBOR integer')
    } else if (ai === 27) {
      this.need(8)
      const hi = buf[this.pos] * 0x1000000 + ((buf[this.pos + 1] << 16) | (buf[this.pos + 2] << 8) | buf[this.pos + 3])
      const lo = buf[this.pos + 4] * 0x1000000 + ((buf[this.pos + 5] << 16) | (buf[this.pos + 6] << 8) | buf[this.pos + 7])
      this.pos += 8
      if (hi === 0) throw new CborError('non-minimal CBOR integer')
      if (hi > 0x1fffff) throw new CborError('CBOR integer beyond 2^53')
      v = hi * 0x100000000 + lo
    } else {
      throw new CborError(major === 7 ? 'CBOR floats and simple values are not allowed here' : 'indefinite or reserved CBOR length')
    }
    if (major === 7) throw new CborError('CBOR floats are not allowed')
    return v
  }

  value(depth: number, topLevelMap = false): CborValue {
    if (depth > MAX_DEPTH) throw new CborError('CBOR nesting too deep')
    this.need(1)
    const b = this.buf[this.pos]
    if (b >> 5 === 7) {
      this.pos++
      if (b === 0xf6) return null
      if (b === 0xf4) return false
      if (b === 0xf5) return true
      throw new CborError('unsupported CBOR simple value or float')
    }
    const arg = this.head()
    switch (this.major) {
      case 0:
        return arg
      case 1:
        return -1 - arg
      case 2: {
        this.need(arg)
        const out = this.buf.subarray(this.pos, this.pos + arg)
        this.pos += arg
        return out
      }
      case 3:
        return this.text(arg)
      case 4: {
        if (arg > this.buf.length - this.pos) throw new CborError('truncated CBOR array')
        const out: CborValue[] = new Array(arg)
        for (let i = 0; i < arg; i++) out[i] = this.value(depth + 1)
        return out
      }
      case 5:
        return this.map(arg, depth, topLevelMap)
      case 6: {
        if (arg !== 42) throw new CborError(`unsupported CBOR tag ${arg}`)
        const len = this.head()
        const m: number = this.major
        if (m !== 2 || len < 2) throw new CborError('CID tag must wrap bytes')
        this.need(len)
        if (this.buf[this.pos] !== 0 || this.buf[this.pos + 1] !== 1) throw new CborError('CID must be a 0x00-prefixed CIDv1')
        const cid = new CidRef(this.buf.subarray(this.pos + 1, this.pos + len))
        this.pos += len
        return cid
      }
      default:
        throw new CborError('unsupported CBOR major type')
    }
  }

  private text(len: number): string {
    this.need(len)
    const start = this.pos
    const end = start + len
    this.pos = end
    const buf = this.buf
    let ascii = true
    for (let i = start; i < end; i++) {
      if (buf[i] > 0x7f) {
        ascii = false
        break
      }
    }
    if (ascii) return buf.toString('latin1', start, end)
    if (!isUtf8(buf.subarray(start, end))) throw new CborError('CBOR text is not UTF-8')
    return buf.toString('utf8', start, end)
  }

  /**
   * A map key: the same few keys (`repo`, `ops`, `$type`, `createdAt`) come in
   * every frame and record, so short ASCII keys are taken from a small
   * direct-mapped cache of strings instead of being made anew each time.
   */
  private key(len: number): string {
    if (len > MAX_CACHED_KEY) return this.text(len)
    this.need(len)
    const buf = this.buf
    const start = this.pos
    const end = start + len
    let h = len
    for (let i = start; i < end; i++) {
      const c = buf[i]
      if (c > 0x7f) return this.text(len)
      h = (Math.imul(h, 31) + c) | 0
    }
    const slot = h & (KEY_CACHE.length - 1)
    const hit = KEY_CACHE[slot]
    if (hit !== undefined && hit.length === len) {
      let same = true
      for (let j = 0; j < len; j++) {
        if (hit.charCodeAt(j) !== buf[start + j]) {
          same = false
          break
        }
      }
      if (same) {
        this.pos = end
        return hit
      }
    }
    this.pos = end
    const key = buf.toString('latin1', start, end)
    KEY_CACHE[slot] = key
    return key
  }

  private map(count: number, depth: number, topLevel: boolean): CborMap {
    if (count > this.buf.length - this.pos) throw new CborError('truncated CBOR map')
    const out: CborMap = {}
    let prevStart = -1
    let prevEnd = -1
    for (let i = 0; i < count; i++) {
      const len = this.head()
      if (this.major !== 3) throw new CborError('CBOR map keys must be text')
      const keyStart = this.pos
      const key = this.key(len)
      const keyEnd = this.pos
      if (prevStart >= 0) {
        let order = len - (prevEnd - prevStart)
        if (order === 0) {
          const buf = this.buf
          for (let j = 0; j < len && order === 0; j++) order = buf[keyStart + j] - buf[prevStart + j]
        }
        if (order <= 0) throw new CborError(order === 0 ? 'duplicate CBOR map key' : 'CBOR map keys out of canonical order')
      }
      prevStart = keyStart
      prevEnd = keyEnd
      if (key === '__proto__') throw new CborError('reserved map key')
      if (topLevel && key === 'seq') {
        this.seqStart = this.pos
        out[key] = this.value(depth + 1)
        this.seqEnd = this.pos
      } else {
        out[key] = this.value(depth + 1)
      }
    }
    return out
  }
}

/** Decodes exactly one DAG-CBOR value filling `bytes`. */
export const decodeCbor = (bytes: Uint8Array): CborValue => {
  const r = new Reader(bytes)
  const v = r.value(0)
  if (r.pos !== bytes.length) throw new CborError('trailing bytes after CBOR value')
  return v
}

/** A decoded event-stream frame, with what is needed to re-sequence it without re-encoding. */
export type RawFrame =
  | { op: 1; type: string; body: CborMap; bodyStart: number; seqStart: number; seqEnd: number }
  | { op: -1; error: string; message?: string }

/**
 * Decodes a frame (header map, then body map). For message frames, records
 * where the body starts and where its top-level `seq` value is (-1 when
 * absent), so the relay can splice in its own seq.
 */
export const decodeFrameBytes = (bytes: Uint8Array): RawFrame => {
  const r = new Reader(bytes)
  const header = r.value(0)
  if (!header || typeof header !== 'object' || Array.isArray(header) || header instanceof Uint8Array || header instanceof CidRef) {
    throw new CborError('frame header must be a map')
  }
  const bodyStart = r.pos
  const r2 = new Reader(bytes, bodyStart)
  const body = r2.value(0, true)
  if (r2.pos !== bytes.length) throw new CborError('trailing bytes after frame body')
  if (!body || typeof body !== 'object' || Array.isArray(body) || body instanceof Uint8Array || body instanceof CidRef) {
    throw new CborError('frame body must be a map')
  }
  const h = header as CborMap
  const b = body as CborMap
  if (h.op === -1) return { op: -1, error: typeof b.error === 'string' ? b.error : 'Unknown', message: typeof b.message === 'string' ? b.message : undefined }
  if (h.op !== 1 || typeof h.t !== 'string') throw new CborError('bad frame header')
  return { op: 1, type: h.t, body: b, bodyStart, seqStart: r2.seqStart, seqEnd: r2.seqEnd }
}

/** Minimal CBOR encoding of a non-negative integer (major type 0). */
export const encodeUint = (n: number): Buffer => {
  if (n < 24) return Buffer.from([n])
  if (n < 0x100) return Buffer.from([24, n])
  if (n < 0x10000) return Buffer.from([25, n >> 8, n & 0xff])
  if (n < 0x100000000) {
    const b = Buffer.allocUnsafe(5)
    b[0] = 26
    b.writeUInt32BE(n, 1)
    return b
  }
  const b = Buffer.allocUnsafe(9)
  b[0] = 27
  b.writeUInt32BE(Math.floor(n / 0x100000000), 1)
  b.writeUInt32BE(n >>> 0, 5)
  return b
}

export const isCidRef = (v: unknown): v is CidRef => v instanceof CidRef

export const isMap = (v: unknown): v is CborMap =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof CidRef)

const mapHead = (count: number): Buffer => {
  const b = encodeUint(count)
  b[0] |= 0xa0
  return b
}

/**
 * The encoding of a (canonical) map without one of its keys, by cutting that
 * entry out of the bytes: for a canonical map this is exactly what encoding
 * the map minus the key would produce. Null when the key is absent.
 */
export const omitMapKey = (bytes: Uint8Array, key: string): Buffer | null => {
  const r = new Reader(bytes)
  const count = r.head()
  if (r.major !== 5) throw new CborError('not a CBOR map')
  const headLen = r.pos
  for (let i = 0; i < count; i++) {
    const start = r.pos
    const k = r.value(1)
    r.value(1)
    if (k === key) {
      return Buffer.concat([mapHead(count - 1), bytes.subarray(headLen, start), bytes.subarray(r.pos)])
    }
  }
  return null
}
