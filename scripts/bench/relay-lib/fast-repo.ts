// Synthetic repos that can sign tens of thousands of valid sync v1.1 commits a
// second: each repo holds a fixed set of records whose keys all sit on MST
// layer 0, so the whole tree is one node and a commit is four blocks (commit,
// node, new record; CAR header). Every commit updates one record, is signed
// with the account's secp256k1 key through libsecp256k1 (the `secp256k1`
// package, low-S like atproto requires), carries `since`, `prevData` and an
// op `prev`, and its rev is the wall clock in microseconds at the moment it is
// built — consumers read latency straight off the rev.
//
// `checkAgainstReference()` rebuilds the same tree with @atproto/repo's MST
// and signature check, so a mistake here fails the benchmark at start instead
// of silently turning it into a drop benchmark.
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { TID } from '@atproto/common-web'
import { Secp256k1Keypair, verifySignature } from '@atproto/crypto'
import { encode as cborEncode } from '@atproto/lex-cbor'
import { createCid, type Cid } from '@atproto/lex-data'
import { MST, MemoryBlockstore } from '@atproto/repo'
import { carBytes } from '../../../packages/dev-env/src/fake-pds.ts'

type Secp = {
  ecdsaSign(msg: Uint8Array, priv: Uint8Array): { signature: Uint8Array }
}
const secp = createRequire(import.meta.url)('secp256k1') as Secp

const COLLECTION = 'app.bsky.feed.post'
const RECORDS = 4
const S32 = '234567abcdefghijklmnopqrstuvwxyz'

const sha256 = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest()
const cborCid = (bytes: Uint8Array): Cid => createCid(0x71, 0x12, sha256(bytes))

/** Wall clock in microseconds (sub-millisecond, comparable across processes on one machine). */
export const nowMicros = (): number => Math.floor((performance.timeOrigin + performance.now()) * 1000)

/** The microsecond timestamp of a TID rev (its first 11 base32-sortable characters). */
export const revMicros = (rev: string): number => {
  let v = 0
  for (let i = 0; i < 11; i++) v = v * 32 + S32.indexOf(rev[i])
  return v
}

/** Record keys whose SHA-256 has no leading zero pair of bits: all on layer 0, one MST node. */
const layerZeroKeys = (seed: number): string[] => {
  const keys: string[] = []
  for (let t = seed * 1_000_000 + 1; keys.length < RECORDS; t++) {
    const key = `${COLLECTION}/${TID.fromTime(1_700_000_000_000_000 + t, 0).toString()}`
    if (sha256(Buffer.from(key, 'ascii'))[0] >= 64) keys.push(key)
  }
  return keys.sort()
}

type Entry = { key: string; cid: Cid; bytes: Uint8Array }

const nodeBytes = (entries: Entry[]): Uint8Array => {
  let prev = ''
  const e = entries.map(({ key, cid }) => {
    let p = 0
    while (p < prev.length && p < key.length && prev[p] === key[p]) p++
    prev = key
    return { p, k: Buffer.from(key.slice(p), 'ascii'), v: cid, t: null }
  })
  return cborEncode({ l: null, e } as never)
}

export type Built = { body: Record<string, unknown>; rev: string }

export class FastRepo {
  readonly did: string
  private readonly priv: Uint8Array
  private readonly entries: Entry[]
  private dataCid: Cid
  private commitCid: Cid
  private commitBytes: Uint8Array
  private rev: string
  private n = 0
  private readonly clockId: number

  private constructor(did: string, priv: Uint8Array, entries: Entry[], clockId: number) {
    this.did = did
    this.priv = priv
    this.entries = entries
    this.clockId = clockId
    this.dataCid = cborCid(nodeBytes(entries))
    this.rev = ''
    this.commitCid = this.dataCid
    this.commitBytes = new Uint8Array(0)
  }

  /**
   * A repo with its genesis commit already built (read it with `syncBody()`).
   * `priv` is the raw secp256k1 private key whose did:key is in the DID document.
   */
  static create(did: string, priv: Uint8Array, seed: number): FastRepo {
    const entries = layerZeroKeys(seed).map((key, i) => {
      const bytes = cborEncode(record(`genesis ${i}`) as never)
      return { key, cid: cborCid(bytes), bytes }
    })
    const repo = new FastRepo(did, priv, entries, seed % 1024)
    repo.signCommit(repo.nextRev())
    return repo
  }

  get head(): { cid: string; rev: string } {
    return { cid: this.commitCid.toString(), rev: this.rev }
  }

  /** `#sync` body for the current commit (announces the repo to a relay). */
  syncBody(): Record<string, unknown> {
    return { did: this.did, blocks: carBytes(this.commitCid, [[this.commitCid, this.commitBytes]]), rev: this.rev, time: new Date().toISOString() }
  }

  /** The whole repo as a CAR (com.atproto.sync.getRepo): commit, the one node, every record. */
  car(): Uint8Array {
    return carBytes(this.commitCid, [
      [this.commitCid, this.commitBytes],
      [this.dataCid, nodeBytes(this.entries)],
      ...this.entries.map((e): [Cid, Uint8Array] => [e.cid, e.bytes]),
    ])
  }

  /**
   * The next commit (one record updated), applied, and its `#commit` body.
   * `atMicros` fixes the rev's time (a pre-generated schedule); it must be
   * after the current rev's.
   */
  next(atMicros?: number): Built {
    const i = this.n % RECORDS
    const recordBytes = cborEncode(record(`update ${this.n}`) as never)
    this.n++
    const recordCid = cborCid(recordBytes)
    const old = this.entries[i].cid
    const prevData = this.dataCid
    const since = this.rev
    this.entries[i] = { key: this.entries[i].key, cid: recordCid, bytes: recordBytes }
    const node = nodeBytes(this.entries)
    this.dataCid = cborCid(node)
    const rev = this.nextRev(atMicros)
    this.signCommit(rev)
    const blocks = carBytes(this.commitCid, [
      [this.commitCid, this.commitBytes],
      [this.dataCid, node],
      [recordCid, recordBytes],
    ])
    return {
      rev,
      body: {
        repo: this.did,
        commit: this.commitCid,
        rev,
        since,
        blocks,
        ops: [{ action: 'update', path: this.entries[i].key, cid: recordCid, prev: old }],
        prevData,
        rebase: false,
        tooBig: false,
        blobs: [],
        time: new Date().toISOString(),
      },
    }
  }

  private nextRev(atMicros?: number): string {
    let ts = atMicros ?? nowMicros()
    const last = this.rev ? revMicros(this.rev) : 0
    if (ts <= last) ts = last + 1
    return TID.fromTime(ts, this.clockId).toString()
  }

  private signCommit(rev: string): void {
    const unsigned = { did: this.did, version: 3, data: this.dataCid, rev, prev: null }
    const sig = secp.ecdsaSign(sha256(cborEncode(unsigned as never)), this.priv).signature
    this.commitBytes = cborEncode({ ...unsigned, sig } as never)
    this.commitCid = cborCid(this.commitBytes)
    this.rev = rev
  }

  /**
   * Rebuilds the current tree with @atproto/repo's MST and checks the
   * commit signature with @atproto/crypto against `didKey`; throws on any
   * difference.
   */
  async checkAgainstReference(didKey: string): Promise<void> {
    let mst = await MST.create(new MemoryBlockstore())
    for (const e of this.entries) mst = await mst.add(e.key, e.cid)
    const ref = (await mst.getPointer()).toString()
    if (ref !== this.dataCid.toString()) throw new Error(`fast MST root ${this.dataCid} differs from @atproto/repo's ${ref}`)
    const { decode } = await import('@atproto/lex-cbor')
    const commit = decode(this.commitBytes) as Record<string, unknown>
    const { sig, ...unsigned } = commit
    if (!(await verifySignature(didKey, cborEncode(unsigned as never), sig as Uint8Array))) {
      throw new Error('fast commit signature does not verify with @atproto/crypto')
    }
  }
}

const record = (text: string) => ({ $type: COLLECTION, text, createdAt: '2025-01-01T00:00:00.000Z' })

/** A fresh secp256k1 signing key: raw private bytes for libsecp256k1 and its did:key. */
export const newSigningKey = async (): Promise<{ priv: Uint8Array; didKey: string }> => {
  const kp = await Secp256k1Keypair.create({ exportable: true })
  return { priv: await kp.export(), didKey: kp.did() }
}
