import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { encode as libEncode } from '@atproto/lex-cbor'
import { jsonToLex, lexToIpld } from '@atproto/lexicon'
import { parseCid } from '@atproto/lex-data'
import { CidRef } from '../src/dag-cbor.ts'
import { NotEncodable, encodeCbor, encodeDagCbor } from '../src/dag-cbor-encode.ts'

// encodeDagCbor against @atproto/lex-cbor's encode: the same bytes for every
// value of the data model, NotEncodable (the caller then asks the library) for
// everything else.

const CID = parseCid('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm')
const RAW_CID = parseCid('bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity')

const same = (value: unknown) => {
  const ours = encodeDagCbor(value)
  const lib = libEncode(value as never)
  expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(lib).toString('hex'))
}

/** A seeded generator (mulberry32), so a failure names a case that can be run again. */
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const CHARS = ['a', 'z', 'A', '0', '$', '/', 'é', 'ß', '⽘', '😀', '\ud800', '\udc00', '\ue000', '\uffff', '\u0000', ' ']
const INTS = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -24, -25, -256, -257, -65536, -65537, -(2 ** 32), -(2 ** 32) - 1, -(2 ** 53 - 1)]

const randomValue = (r: () => number, depth: number): unknown => {
  const kind = Math.floor(r() * (depth > 4 ? 7 : 9))
  const str = () => Array.from({ length: Math.floor(r() * (r() < 0.1 ? 300 : 8)) }, () => CHARS[Math.floor(r() * CHARS.length)]).join('')
  switch (kind) {
    case 0:
      return str()
    case 1:
      return r() < 0.5 ? INTS[Math.floor(r() * INTS.length)] : Math.floor((r() - 0.5) * 2 ** (1 + Math.floor(r() * 53)))
    case 2:
      return r() < 0.5
    case 3:
      return null
    case 4:
      // now and then longer than a 64 KiB buffer, so the writer grows
      return r() < 0.01 ? Buffer.alloc(70_000, Math.floor(r() * 256)) : Uint8Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256))
    case 5:
      return r() < 0.5 ? CID : RAW_CID
    case 6:
      return Buffer.from([1, 2, 3])
    case 7:
      return Array.from({ length: Math.floor(r() * 6) }, () => randomValue(r, depth + 1))
    default: {
      const obj: Record<string, unknown> = {}
      for (let i = Math.floor(r() * 8); i > 0; i--) obj[str()] = r() < 0.1 ? undefined : randomValue(r, depth + 1)
      return obj
    }
  }
}

test('random values of the data model: byte for byte the library', () => {
  const r = rng(20261202)
  for (let i = 0; i < 3_000; i++) {
    const v = randomValue(r, 0)
    try {
      same(v)
    } catch (err) {
      throw new Error(`case ${i}: ${(err as Error).message}`)
    }
  }
})

test('edges: integer widths, key order across lengths and UTF-8, lone surrogates, undefined properties, nesting', () => {
  for (const n of INTS) same({ n, list: [n, -n || 0] })
  same(-0)
  // shorter UTF-8 first, then bytewise: 'é' (2 bytes) after 'z'; U+E000 (3 bytes) before '😀' (4), though UTF-16 orders them the other way
  same({ z: 1, é: 2, aa: 3, '😀': 4, '\ue000': 5, b: 6, '': 7, ba: 8, ab: 9 })
  same({ text: 'a\ud800b', other: '\udc00', pair: '😀' })
  same({ a: undefined, b: 1, c: { d: undefined } })
  same(Object.assign(Object.create(null) as object, { b: 1, a: 2 }))
  same([[[[[[[[[[[[[]]]]]]]]]]]]])
  same({ bytes: new Uint8Array(0), cid: CID, raw: RAW_CID })
  // our own CID form (the MST's and the relay's) encodes as the CID it stands for
  const withRefs = { commit: new CidRef(CID.bytes), list: [new CidRef(RAW_CID.bytes)] }
  expect(encodeDagCbor(withRefs).toString('hex')).toBe(Buffer.from(libEncode({ commit: CID, list: [RAW_CID] } as never)).toString('hex'))
  same('x'.repeat(70_000))
  same('é'.repeat(40_000))
})

test('outside the data model: NotEncodable, so the library answers', () => {
  for (const v of [1.5, NaN, Infinity, 2 ** 53, [undefined], undefined, new Map([['a', 1]]), new Date(0), new Uint16Array(2), 10n, Symbol('s'), () => 1]) {
    expect(() => encodeDagCbor(v)).toThrow(NotEncodable)
  }
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  expect(() => encodeDagCbor(cyclic)).toThrow(NotEncodable)
})

test('the data-model vectors: the fixtures encode to their CBOR, and every valid value as the library does', () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url))
  const dir = path.resolve(root, process.env.ATPROTO_INTEROP_DIR ?? '../shared/interop-vectors/', 'data-model')
  if (!fs.existsSync(dir)) {
    console.warn(`interop vectors not found at ${dir}: skipped`)
    return
  }
  const fixtures = JSON.parse(fs.readFileSync(path.join(dir, 'data-model-fixtures.json'), 'utf8')) as { json: unknown; cbor_base64: string }[]
  for (const f of fixtures) {
    // as the PDS encodes a record: JSON → lex values → IPLD values
    const bytes = encodeDagCbor(lexToIpld(jsonToLex(f.json)))
    expect(bytes.toString('base64').replace(/=+$/, '')).toBe(f.cbor_base64.replace(/=+$/, ''))
  }
  const valid = JSON.parse(fs.readFileSync(path.join(dir, 'data-model-valid.json'), 'utf8')) as { json: unknown }[]
  for (const v of valid) same(lexToIpld(jsonToLex(v.json)))
  expect(fixtures.length + valid.length).toBeGreaterThan(5)
})

test('a prefix (a frame header) comes first in the same bytes, on the direct path and through the library', () => {
  const header = libEncode({ op: 1, t: '#commit' })
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
  const body = { seq: 7, blocks: Buffer.alloc(3000, 1), repo: 'did:plc:x' }
  expect(hex(encodeDagCbor(body, 16, header))).toBe(hex(header) + hex(libEncode(body as never)))
  // a JS Map is outside the direct subset: the library encodes it, behind the same prefix
  const map = new Map([['b', 1], ['a', 2]])
  expect(hex(encodeCbor(map, 16, header))).toBe(hex(header) + hex(libEncode(map as never)))
  expect(hex(encodeCbor(map))).toBe(hex(libEncode(map as never)))
  // and what the library refuses stays refused
  expect(() => encodeCbor({ n: 1.5 })).toThrow(/Non-integer/)
})
