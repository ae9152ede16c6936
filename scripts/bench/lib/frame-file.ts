import fs from 'node:fs'

/**
 * Reads the benchmarks' pre-generated frame files: [u32 LE length][frame]
 * records, 8 MB at a time, each frame a view into the current chunk.
 */
export class FrameReader {
  private readonly fd: number
  private buf = Buffer.alloc(0)
  private pos = 0
  private eof = false

  constructor(file: string) {
    this.fd = fs.openSync(file, 'r')
  }

  next(): Buffer | null {
    for (;;) {
      const left = this.buf.length - this.pos
      if (left >= 4 && left >= 4 + this.buf.readUInt32LE(this.pos)) break
      if (this.eof) return null
      // 1 MB at a time: a host reading 8 MB in one go stalled its sends every ~6 s at 5,000/s, which
      // showed as periodic latency spikes that were the benchmark's, not the relay's
      const chunk = Buffer.allocUnsafe(1024 * 1024)
      const n = fs.readSync(this.fd, chunk, 0, chunk.length, null)
      if (n === 0) this.eof = true
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk.subarray(0, n)])
      this.pos = 0
    }
    const len = this.buf.readUInt32LE(this.pos)
    const frame = this.buf.subarray(this.pos + 4, this.pos + 4 + len)
    this.pos += 4 + len
    return frame
  }

  close(): void {
    fs.closeSync(this.fd)
  }
}
