import fs from 'node:fs'
import path from 'node:path'
import { Secp256k1Keypair } from '@atproto/crypto'
import { parseCid, type Cid } from '@atproto/lex-data'
import { MST, MemoryBlockstore, Repo, WriteOpAction, type RecordWriteOp } from '@atproto/repo'
import { CidRef, decodeCbor } from '@atsuite/common/dag-cbor'
import { cidForCbor, writeCar } from '@atsuite/common/car'
import { invertCommit, parseCommitCar, type ParsedCommit, type RepoOp } from '../src/validate/commit.ts'

// The relay inverts commits with its own partial-tree code (for speed). These
// tests hold it to the spec's vectors and to @atproto/repo's MST.

const vectorsDir = process.env.ATPROTO_INTEROP_DIR ?? path.resolve(import.meta.dirname, '../../../../shared/interop-vectors')
const haveVectors = fs.existsSync(vectorsDir)
if (!haveVectors) console.log(`interop vectors not found at ${vectorsDir}: skipping vector tests`)
const vtest = haveVectors ? test : test.skip

const ref = (cid: Cid): CidRef => new CidRef(cid.bytes)

type ProofFixture = {
  comment: string
  leafValue: string
  keys: string[]
  adds: string[]
  dels: string[]
  rootBeforeCommit: string
  rootAfterCommit: string
  blocksInProof: string[]
}

vtest('firehose commit-proof vectors: the proof blocks alone invert each commit to rootBeforeCommit', async () => {
  const fixtures = JSON.parse(fs.readFileSync(path.join(vectorsDir, 'firehose/commit-proof-fixtures.json'), 'utf8')) as ProofFixture[]
  for (const f of fixtures) {
    const storage = new MemoryBlockstore()
    const leaf = parseCid(f.leafValue)
    let mst = await MST.create(storage)
    for (const k of f.keys) mst = await mst.add(k, leaf)
    await storage.putMany((await mst.getUnstoredBlocks()).blocks)
    expect((await mst.getPointer()).toString()).toBe(f.rootBeforeCommit)
    for (const k of f.adds) mst = await mst.add(k, leaf)
    for (const k of f.dels) mst = await mst.delete(k)
    await storage.putMany((await mst.getUnstoredBlocks()).blocks)
    expect((await mst.getPointer()).toString()).toBe(f.rootAfterCommit)

    const blocks = new Map<string, Uint8Array>()
    for (const c of f.blocksInProof) {
      const cid = parseCid(c)
      blocks.set(ref(cid).key, (await storage.getBytes(cid))!)
    }
    const parsed = {
      cid: ref(parseCid(f.rootAfterCommit)),
      commit: { did: 'did:example:x', version: 3, data: ref(parseCid(f.rootAfterCommit)), rev: '2222222222222', prev: null, sig: new Uint8Array() },
      blocks,
      unsigned: new Uint8Array(),
      hash: new Uint8Array(),
    } as ParsedCommit
    const ops: RepoOp[] = [
      ...f.adds.map((p) => ({ action: 'create' as const, path: p, cid: ref(leaf), prev: null })),
      ...f.dels.map((p) => ({ action: 'delete' as const, path: p, cid: null, prev: ref(leaf) })),
    ]
    expect([f.comment, invertCommit(parsed, ops, ref(parseCid(f.rootBeforeCommit)))]).toEqual([f.comment, null])
    // and a wrong prevData is caught
    expect(invertCommit(parsed, ops, ref(parseCid(f.rootAfterCommit)))).not.toBeNull()
  }
})

vtest('data-model vectors: the strict DAG-CBOR reader reads every fixture and the CIDs match', () => {
  const fixtures = JSON.parse(fs.readFileSync(path.join(vectorsDir, 'data-model/data-model-fixtures.json'), 'utf8')) as {
    cbor_base64: string
    cid: string
  }[]
  for (const f of fixtures) {
    const bytes = Buffer.from(f.cbor_base64, 'base64')
    expect(() => decodeCbor(bytes)).not.toThrow()
    expect(cidForCbor(bytes).toString()).toBe(f.cid)
  }
})

test('random commits built by @atproto/repo invert exactly; tampered ones do not', async () => {
  const keypair = await Secp256k1Keypair.create()
  const storage = new MemoryBlockstore()
  let repo = await Repo.create(storage, 'did:example:inv', keypair)
  const live = new Map<string, true>()
  let n = 0
  let v = 0 // every record value differs, so no write is a no-op
  const rnd = (k: number) => Math.floor(Math.random() * k)
  const collections = ['app.bsky.feed.post', 'app.bsky.feed.like', 'com.example.thing']
  for (let round = 0; round < 150; round++) {
    const writes: RecordWriteOp[] = []
    const used = new Set<string>()
    const count = 1 + rnd(4)
    for (let i = 0; i < count; i++) {
      const existing = [...live.keys()].filter((k) => !used.has(k))
      // mostly creates, so the tree grows deep enough to split and merge nodes
      const choice = existing.length === 0 ? 0 : rnd(5)
      if (choice <= 2) {
        const key = `${collections[rnd(3)]}/k${(n++).toString(36).padStart(6, '0')}`
        used.add(key)
        const [collection, rkey] = key.split('/')
        writes.push({ action: WriteOpAction.Create, collection, rkey, record: { $type: collection, v: v++ } } as RecordWriteOp)
      } else {
        const key = existing[rnd(existing.length)]
        used.add(key)
        const [collection, rkey] = key.split('/')
        writes.push(
          choice === 3
            ? ({ action: WriteOpAction.Update, collection, rkey, record: { $type: collection, v: v++ } } as RecordWriteOp)
            : ({ action: WriteOpAction.Delete, collection, rkey } as RecordWriteOp),
        )
      }
    }
    const before = repo.data
    const commit = await repo.formatCommit(writes, keypair)
    const ops: RepoOp[] = []
    for (const w of writes) {
      const p = `${w.collection}/${w.rkey}`
      const prev = w.action === WriteOpAction.Create ? null : await before.get(p)
      const cid = w.action === WriteOpAction.Delete ? null : await commit.relevantBlocks.add(w.record)
      ops.push({ action: w.action, path: p, cid: cid ? ref(cid) : null, prev: prev ? ref(prev) : null })
    }
    const blocks = [...commit.newBlocks, ...commit.relevantBlocks].map(([c, b]) => [{ bytes: c.bytes }, b] as const)
    const parsed = parseCommitCar(writeCar({ bytes: commit.cid.bytes }, blocks))
    const prevData = ref(await before.getPointer())
    expect(invertCommit(parsed, ops, prevData)).toBeNull()
    if (ops.length > 1) expect(invertCommit(parsed, ops.slice(1), prevData)).not.toBeNull()
    expect(invertCommit(parsed, ops, ref(commit.cid))).not.toBeNull()

    repo = await repo.applyCommit(commit)
    for (const w of writes) {
      const p = `${w.collection}/${w.rkey}`
      if (w.action === WriteOpAction.Delete) live.delete(p)
      else live.set(p, true)
    }
  }
  expect(live.size).toBeGreaterThan(20)
})
