/**
 * Real, signed atproto repos for a fake PDS: a did:plc registered in the test
 * PLC directory, a repo in a MemoryBlockstore (@atproto/repo), and sync v1.1
 * `#commit` bodies built exactly as a PDS builds them (covering proofs,
 * prevData, since) — plus the knobs a hostile host turns: another signer, a
 * chosen rev, a wrong prevData, a commit that is built but never applied.
 */
import { randomBytes } from 'node:crypto'
import { Secp256k1Keypair, type Keypair } from '@atproto/crypto'
import { TID } from '@atproto/common-web'
import { encode as cborEncode } from '@atproto/lex-cbor'
import { cidForCbor, type Cid } from '@atproto/lex-data'
import {
  BlockMap,
  DataDiff,
  MemoryBlockstore,
  Repo,
  getFullRepo,
  signCommit,
  type CommitData,
} from '@atproto/repo'
import { Client, createOp, updateHandleOp, updatePdsOp } from '@did-plc/lib'
import { carBytes, type FakeRepoSource } from './fake-pds.ts'

export type Write =
  | { action: 'create' | 'update'; collection: string; rkey: string; record: Record<string, unknown> }
  | { action: 'delete'; collection: string; rkey: string }

export type CommitOptions = {
  /** sign with this key instead of the DID document's (a forgery) */
  signer?: Keypair
  /** use this rev instead of the next TID after the current one */
  rev?: string
  /** claim this prevData instead of the real previous MST root */
  prevData?: Cid
  /** apply to the repo (default true); false leaves the repo as it was, as if the commit never happened */
  apply?: boolean
  /** rewrite the ops the event claims (the commit itself is unchanged): ops that lie */
  ops?: (ops: Record<string, unknown>[]) => Record<string, unknown>[]
}

export type BuiltCommit = {
  /** `#commit` body without seq, ready for FakePds.emit('#commit', body) */
  body: Record<string, unknown>
  cid: Cid
  rev: string
}

export const POST = 'app.bsky.feed.post'

export const post = (text: string, extra: Record<string, unknown> = {}) => ({
  $type: POST,
  text,
  createdAt: new Date().toISOString(),
  ...extra,
})

/** A TID for a wall-clock time (ms since epoch). */
export const tidAt = (ms: number): string => TID.fromTime(ms * 1000, Math.floor(Math.random() * 1024)).toString()

export class FakeAccount implements FakeRepoSource {
  readonly did: string
  readonly signingKey: Keypair
  readonly rotationKey: Secp256k1Keypair
  readonly storage: MemoryBlockstore
  repo: Repo
  handle: string
  active = true
  status?: string
  private readonly plc: Client

  private constructor(did: string, handle: string, signingKey: Keypair, rotationKey: Secp256k1Keypair, storage: MemoryBlockstore, repo: Repo, plc: Client) {
    this.did = did
    this.handle = handle
    this.signingKey = signingKey
    this.rotationKey = rotationKey
    this.storage = storage
    this.repo = repo
    this.plc = plc
  }

  /**
   * Registers a new did:plc whose document names `pdsUrl` as its PDS and
   * `signingKey` (default: a fresh secp256k1 key) as its #atproto key, then
   * creates its empty repo.
   */
  static async create(
    plcUrl: string,
    pdsUrl: string,
    opts: { handle?: string; signingKey?: Keypair; /** false: the DID is never sent to the PLC (unresolvable) */ register?: boolean } = {},
  ): Promise<FakeAccount> {
    const signingKey = opts.signingKey ?? (await Secp256k1Keypair.create())
    const rotationKey = await Secp256k1Keypair.create()
    const handle = opts.handle ?? `fake-${randomBytes(4).toString('hex')}.test`
    const { op, did } = await createOp({
      signingKey: signingKey.did(),
      handle,
      pds: pdsUrl,
      rotationKeys: [rotationKey.did()],
      signer: rotationKey as never,
    })
    const plc = new Client(plcUrl)
    if (opts.register !== false) await plc.sendOperation(did, op as never)
    const storage = new MemoryBlockstore()
    const repo = await Repo.create(storage, did, signingKey)
    return new FakeAccount(did, handle, signingKey, rotationKey, storage, repo, plc)
  }

  head(): { cid: string; rev: string } {
    return { cid: this.repo.cid.toString(), rev: this.repo.commit.rev }
  }

  async collections(): Promise<string[]> {
    const leaves = await this.repo.data.list()
    return [...new Set(leaves.map((l) => l.key.split('/')[0]))].sort()
  }

  async car(): Promise<Uint8Array> {
    const chunks: Uint8Array[] = []
    for await (const c of getFullRepo(this.storage, this.repo.cid)) chunks.push(c)
    return Buffer.concat(chunks)
  }

  /** `#identity` body (handle included) */
  identityBody(): Record<string, unknown> {
    return { did: this.did, handle: this.handle, time: new Date().toISOString() }
  }

  accountBody(): Record<string, unknown> {
    return { did: this.did, active: this.active, ...(this.status ? { status: this.status } : {}), time: new Date().toISOString() }
  }

  /** `#sync` body for the current commit (as a PDS sends on account creation or activation). */
  async syncBody(): Promise<Record<string, unknown>> {
    const bytes = await this.storage.getBytes(this.repo.cid)
    if (!bytes) throw new Error('commit block missing')
    return { did: this.did, blocks: carBytes(this.repo.cid, [[this.repo.cid, bytes]]), rev: this.repo.commit.rev, time: new Date().toISOString() }
  }

  async setHandle(handle: string): Promise<void> {
    const last = await this.plc.getLastOp(this.did)
    await this.plc.sendOperation(this.did, (await updateHandleOp(last as never, this.rotationKey as never, handle)) as never)
    this.handle = handle
  }

  async setPds(url: string): Promise<void> {
    const last = await this.plc.getLastOp(this.did)
    await this.plc.sendOperation(this.did, (await updatePdsOp(last as never, this.rotationKey as never, url)) as never)
  }

  /**
   * Builds one signed commit over `writes` the way Repo.formatCommit does
   * (new MST blocks, the covering proof of every touched key, the new
   * leaves), with the options above, and its `#commit` body.
   */
  async commit(writes: Write[], opts: CommitOptions = {}): Promise<BuiltCommit> {
    const prev = this.repo
    let data = prev.data
    const leaves = new BlockMap()
    const ops: Record<string, unknown>[] = []
    for (const w of writes) {
      const path = `${w.collection}/${w.rkey}`
      if (w.action === 'delete') {
        const old = await data.get(path)
        if (!old) throw new Error(`no record at ${path}`)
        data = await data.delete(path)
        ops.push({ action: 'delete', path, cid: null, prev: old })
        continue
      }
      const cid = await leaves.add(w.record as never)
      if (w.action === 'create') {
        data = await data.add(path, cid)
        ops.push({ action: 'create', path, cid })
      } else {
        const old = await data.get(path)
        if (!old) throw new Error(`no record at ${path}`)
        data = await data.update(path, cid)
        ops.push({ action: 'update', path, cid, prev: old })
      }
    }
    const dataCid = await data.getPointer()
    const diff = await DataDiff.of(data, prev.data)
    const newBlocks = diff.newMstBlocks
    const relevant = new BlockMap()
    for (const w of writes) relevant.addMap(await data.getCoveringProof(`${w.collection}/${w.rkey}`))
    const added = leaves.getMany(diff.newLeafCids.toList())
    newBlocks.addMap(added.blocks)
    relevant.addMap(added.blocks)

    const rev = opts.rev ?? TID.nextStr(prev.commit.rev)
    const signed = await signCommit({ did: this.did, version: 3, rev, prev: null, data: dataCid }, opts.signer ?? this.signingKey)
    const commitBytes = cborEncode(signed as never)
    const cid = await cidForCbor(commitBytes)
    newBlocks.set(cid, commitBytes)
    relevant.set(cid, commitBytes)
    const removedCids = diff.removedCids
    removedCids.add(prev.cid)

    if (opts.apply !== false) {
      const commitData: CommitData = { cid, rev, since: prev.commit.rev, prev: prev.cid, newBlocks, relevantBlocks: relevant, removedCids }
      this.repo = await prev.applyCommit(commitData)
    }
    const blocks = carBytes(cid, [[cid, commitBytes], ...relevant])
    const body: Record<string, unknown> = {
      repo: this.did,
      commit: cid,
      rev,
      since: prev.commit.rev,
      blocks,
      ops: opts.ops ? opts.ops(ops) : ops,
      prevData: opts.prevData ?? prev.commit.data,
      rebase: false,
      tooBig: false,
      blobs: [],
      time: new Date().toISOString(),
    }
    return { body, cid, rev }
  }
}
