import { encode as lexEncode } from '@atproto/lex-cbor'
import { parseCid } from '@atproto/lex-data'
import { CborError, CidRef, decodeCbor, decodeFrameBytes, omitMapKey } from '../src/dag-cbor.ts'

// The hot-path DAG-CBOR reader, held to @atproto/lex-cbor's encoder: whatever
// it encodes (canonical DAG-CBOR) reads back as the same value, CIDs as the
// same strings, map keys as the same strings however often (and in whatever
// mix) they repeat, since short keys come from a cache.

const CIDS = [
  'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm',
  'bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy',
  'bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua',
].map(parseCid)

// a small deterministic generator, so a failure names its seed
const rng = (seed: number) => () => {
  seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0
  return ((seed ^ (seed >>> 12)) >>> 0) / 2 ** 32
}

const KEYS = ['$type', 'a', 'ab', 'cid', 'ops', 'rev', 'repo', 'path', 'text', 'since', 'blocks', 'action', 'createdAt', 'prevData', 'langs', 'é', 'ключ', '日本語のキー', 'x'.repeat(24), 'y'.repeat(25), 'z'.repeat(60)]

const gen = (r: () => number, depth: number): unknown => {
  const pick = Math.floor(r() * (depth > 3 ? 6 : 9))
  switch (pick) {
    case 0:
      return (Math.floor(r() * 2 ** (1 + Math.floor(r() * 52))) * (r() < 0.3 ? -1 : 1)) || 0
    case 1:
      return r() < 0.5 ? null : r() < 0.5
    case 2:
      return KEYS[Math.floor(r() * KEYS.length)] + (r() < 0.5 ? '' : String(Math.floor(r() * 1000)))
    case 3:
      return Uint8Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256))
    case 4:
      return CIDS[Math.floor(r() * CIDS.length)]
    case 5:
      return ''
    case 6:
      return Array.from({ length: Math.floor(r() * 5) }, () => gen(r, depth + 1))
    default: {
      const out: Record<string, unknown> = {}
      const n = Math.floor(r() * 7)
      for (let i = 0; i < n; i++) {
        // keys that differ from a cached one in a single byte, or only in length
        const base = KEYS[Math.floor(r() * KEYS.length)]
        const key = r() < 0.2 ? base.slice(0, -1) + String.fromCharCode(base.charCodeAt(base.length - 1) + 1) : r() < 0.2 ? base + base : base
        out[key] = gen(r, depth + 1)
      }
      return out
    }
  }
}

/** our decoded value in the encoder's terms: CidRef -> CID string, byte views -> plain arrays */
const plain = (v: unknown): unknown => {
  if (v instanceof CidRef) return { cid: v.toString() }
  if (v instanceof Uint8Array) return { bytes: [...v] }
  if (Array.isArray(v)) return v.map(plain)
  if (v && typeof v === 'object') {
    const cid = parseCidLike(v)
    if (cid) return { cid }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  }
  return v
}
const parseCidLike = (v: object): string | null => {
  const c = v as { ['/']?: unknown; asCID?: unknown; toString(): string }
  return c.asCID === c ? c.toString() : null
}

describe('dag-cbor reader', () => {
  test('reads 3,000 random canonical values exactly as lex-cbor wrote them', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const value = gen(rng(seed), 0)
      const bytes = lexEncode(value as never)
      expect([seed, plain(decodeCbor(bytes))]).toEqual([seed, plain(value)])
    }
  })

  test('map keys that collide in the key cache still read as themselves', () => {
    // every two-letter ASCII key: far more keys than cache slots, so slots are shared and replaced
    const keys: string[] = []
    for (let a = 0x21; a < 0x7f; a++) for (let b = 0x21; b < 0x7f; b++) keys.push(String.fromCharCode(a, b))
    const value = Object.fromEntries(keys.map((k, i) => [k, i]))
    for (let round = 0; round < 3; round++) {
      const decoded = decodeCbor(lexEncode(value)) as Record<string, number>
      expect(Object.keys(decoded).length).toBe(keys.length)
      for (const [i, k] of keys.entries()) expect(decoded[k]).toBe(i)
    }
  })

  test('CIDs read as their canonical base32 string', () => {
    for (const cid of CIDS) {
      const got = decodeCbor(lexEncode({ link: cid })) as { link: CidRef }
      expect(got.link.toString()).toBe(cid.toString())
      expect(got.link.toJSON()).toEqual({ $link: cid.toString() })
    }
    // longer than the scratch buffer (a CID with a 120-byte digest): still right
    const long = new CidRef(Uint8Array.from([1, 0x71, 0x12, 120, ...Array.from({ length: 120 }, (_, i) => i)]))
    const s = long.toString()
    expect(s).toMatch(/^b[a-z2-7]+$/)
    expect(s.length).toBe(1 + Math.ceil((124 * 8) / 5))
  })

  test('frames: header, body and the position of seq', () => {
    const header = lexEncode({ op: 1, t: '#commit' })
    const body = lexEncode({ seq: 123456, repo: 'did:plc:abc', rev: '3l3qo2vutsw2b' })
    const frame = Buffer.concat([header, body])
    const f = decodeFrameBytes(frame)
    if (f.op !== 1) throw new Error('expected a message frame')
    expect(f.type).toBe('#commit')
    expect(f.body).toEqual({ seq: 123456, repo: 'did:plc:abc', rev: '3l3qo2vutsw2b' })
    expect(f.bodyStart).toBe(header.length)
    expect(decodeCbor(frame.subarray(f.seqStart, f.seqEnd))).toBe(123456)
    expect(decodeCbor(omitMapKey(body, 'seq')!)).toEqual({ repo: 'did:plc:abc', rev: '3l3qo2vutsw2b' })
  })

  test('refuses what DAG-CBOR forbids', () => {
    const bad: [string, number[]][] = [
      ['non-minimal integer', [0x18, 0x05]],
      ['float', [0xfb, 0, 0, 0, 0, 0, 0, 0, 0]],
      ['indefinite array', [0x9f, 0xff]],
      ['keys out of order', [0xa2, 0x62, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02]],
      ['duplicate key', [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]],
      ['non-text key', [0xa1, 0x01, 0x02]],
      ['invalid UTF-8 key', [0xa1, 0x61, 0xff, 0x01]],
      ['tag other than 42', [0xc1, 0x01]],
      ['truncated', [0x62, 0x61]],
      ['trailing bytes', [0x01, 0x02]],
    ]
    for (const [what, bytes] of bad) {
      let err: unknown
      try {
        decodeCbor(Uint8Array.from(bytes))
      } catch (e) {
        err = e
      }
      expect([what, err instanceof CborError]).toEqual([what, true])
    }
  })
})
