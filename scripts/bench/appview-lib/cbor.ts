// A minimal DAG-CBOR writer for the generator's hot loop (cborg through
// @atproto/lex-cbor spends ~150 µs a frame sorting keys and building token
// lists; millions of frames need ~10× less). The caller writes map keys in
// canonical DAG-CBOR order itself (shorter first, then bytewise) — the app
// view's strict reader rejects anything else, which is the check.
import crypto from 'node:crypto'
import { CidRef } from '@atsuite/common/dag-cbor'

const CID_PREFIX = Buffer.from([0x01, 0x71, 0x12, 0x20])

export const sha256 = (b: Uint8Array): Buffer => crypto.hash('sha256', b, 'buffer')

/** CIDv1 dag-cbor sha-256 bytes (36) of a block. */
export const cidBytes = (block: Uint8Array): Buffer => Buffer.concat([CID_PREFIX, sha256(block)])
export const cidFromDigest = (digest: Uint8Array): Buffer => Buffer.concat([CID_PREFIX, digest])
export const cidString = (cid: Uint8Array): string => new CidRef(cid).toString()

export class CborWriter {
  private buf = Buffer.allocUnsafe(1 << 16)
  private pos = 0

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  private head(major: number, n: number): void {
    this.ensure(9)
    const m = major << 5
    const b = this.buf
    if (n < 24) b[this.pos++] = m | n
    else if (n < 0x100) {
      b[this.pos++] = m | 24
      b[this.pos++] = n
    } else if (n < 0x10000) {
      b[this.pos++] = m | 25
      b.writeUInt16BE(n, this.pos)
      this.pos += 2
    } else if (n < 0x100000000) {
      b[this.pos++] = m | 26
      b.writeUInt32BE(n, this.pos)
      this.pos += 4
    } else {
      b[this.pos++] = m | 27
      b.writeBigUInt64BE(BigInt(n), this.pos)
      this.pos += 8
    }
  }

  uint(n: number): this {
    this.head(0, n)
    return this
  }

  text(s: string): this {
    const len = Buffer.byteLength(s, 'utf8')
    this.head(3, len)
    this.ensure(len)
    this.buf.write(s, this.pos, 'utf8')
    this.pos += len
    return this
  }

  bytes(b: Uint8Array): this {
    this.head(2, b.length)
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
    return this
  }

  /** A CID link (tag 42, 0x00 multibase prefix). */
  cid(cid: Uint8Array): this {
    this.ensure(2)
    this.buf[this.pos++] = 0xd8
    this.buf[this.pos++] = 0x2a
    this.head(2, cid.length + 1)
    this.ensure(cid.length + 1)
    this.buf[this.pos++] = 0
    this.buf.set(cid, this.pos)
    this.pos += cid.length
    return this
  }

  map(n: number): this {
    this.head(5, n)
    return this
  }

  array(n: number): this {
    this.head(4, n)
    return this
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

  /** Raw bytes appended as they are (a pre-encoded value). */
  raw(b: Uint8Array): this {
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
    return this
  }

  /** A copy of what was written; the writer is reset. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos))
    this.pos = 0
    return out
  }
}
