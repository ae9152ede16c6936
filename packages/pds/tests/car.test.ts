import { parseCid } from '@atproto/lex-data'
import { cidForCbor } from '@atproto/lex-data'
import { encode } from '@atproto/lex-cbor'
import { readCarWithRoot } from '@atproto/repo'
import { carHeader, cborCid, cidBytes, encodeCar, pushCarBlock } from '../src/repo/car.ts'

test('cidBytes decodes stored base32 CID keys exactly as the multibase parser does', async () => {
  for (let i = 0; i < 200; i++) {
    const cid = await cidForCbor(encode({ i, s: 'x'.repeat(i) }))
    expect(Buffer.from(cidBytes(cid.toString())).equals(Buffer.from(cid.bytes))).toBe(true)
  }
  const raw = 'bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity'
  expect(Buffer.from(cidBytes(raw)).equals(Buffer.from(parseCid(raw).bytes))).toBe(true)
})

test('cborCid gives the CID lex-data computes for the same DAG-CBOR bytes', async () => {
  for (let i = 0; i < 200; i++) {
    const bytes = encode({ i, s: 'y'.repeat(i * 7), nested: { list: [i, 'z'] } })
    const expected = await cidForCbor(bytes)
    const got = cborCid(bytes)
    expect(got.equals(expected)).toBe(true)
    expect(got.toString()).toBe(expected.toString())
  }
})

test('CARs written in pieces and whole read back with @atproto/repo', async () => {
  const blocks = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const bytes = encode({ n: i })
      return [await cidForCbor(bytes), bytes] as [Awaited<ReturnType<typeof cidForCbor>>, Uint8Array]
    }),
  )
  const root = blocks[0][0]
  const parts: Uint8Array[] = [carHeader(root)]
  for (const [cid, bytes] of blocks) pushCarBlock(parts, cidBytes(cid.toString()), bytes)
  for (const car of [Buffer.concat(parts), encodeCar(root, [...blocks, ...blocks])]) {
    const read = await readCarWithRoot(car)
    expect(read.root.equals(root)).toBe(true)
    expect(read.blocks.size).toBe(50)
  }
})
