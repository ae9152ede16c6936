import { TID } from '@atproto/common'
import { decode as cborDecode } from '@atproto/lex-cbor'
import { decodeCid, type Cid } from '@atproto/lex-data'
import type { Commit, UnsignedCommit } from '@atproto/repo'
import type { Keypair } from '@atproto/crypto'
import { CidRef } from '@atsuite/common/dag-cbor'
import { encodeCbor } from '@atsuite/common/dag-cbor-encode'
import { coveringProof, put, remove, rootCid, stubTree, type BlockSource, type MstNode } from '@atsuite/common/mst'
import { cborCid } from './car.ts'

/**
 * An account's current head kept in memory between commits: the signed
 * commit and its MST, whose loaded nodes make the next commit cheap (no
 * re-reading and re-decoding the path from the root). The tree is changed in
 * place by the next commit, so a head is valid exactly while the store's root
 * is `cid` and no commit formatting on it has failed (the writer drops it
 * then).
 */
export type RepoHead = { cid: Cid; commit: Commit; root: MstNode }

/** One record write of a commit: its key (`collection/rkey`) and, for a create or update, the record's CID and bytes. */
export type CommitWrite =
  | { action: 'create' | 'update'; key: string; cid: Cid; bytes: Uint8Array }
  | { action: 'delete'; key: string }

/** A block of a commit: its CID (bytes, and the base32 string the store keys it by, made once) and bytes. */
export type CommitBlock = readonly [CidRef, Uint8Array]

/**
 * What the store and the firehose event need of a commit. @atproto/repo's
 * `CommitData` has this shape too (its BlockMap and CidSet iterate CIDs),
 * so an initial commit from the library goes the same way.
 */
export type CommitBlocks = {
  cid: Cid
  rev: string
  since: string | null
  newBlocks: Iterable<readonly [{ bytes: Uint8Array; toString(): string }, Uint8Array]>
  relevantBlocks: Iterable<readonly [{ bytes: Uint8Array; toString(): string }, Uint8Array]>
  removedCids: Iterable<{ toString(): string }>
}

/**
 * A commit as formatCommit builds it: the blocks keep the CidRefs the tree
 * already has, so no CID is turned into a string and parsed back (a
 * BlockMap keys by the base32 string and parses it again on every read).
 */
export type FormattedCommit = CommitBlocks & {
  since: string
  prev: Cid
  newBlocks: CommitBlock[]
  relevantBlocks: CommitBlock[]
  removedCids: CidRef[]
}

const ref = (cid: Cid): CidRef => new CidRef(cid.bytes)

/** A create of a key the tree already has (the writer looks no record up before a plain create: the tree answers). */
export class KeyTakenError extends Error {
  readonly key: string
  constructor(key: string) {
    super(`${key} is already in the tree`)
    this.key = key
  }
}

/** Adds a block to a commit's list unless it is there already (first one kept, in first-seen order, as a BlockMap lists them). */
const addBlock = (blocks: Map<string, CommitBlock>, cid: CidRef, bytes: Uint8Array): void => {
  if (!blocks.has(cid.key)) blocks.set(cid.key, [cid, bytes])
}
const cidOf = (r: CidRef): Cid => decodeCid(r.bytes)

/** The head at commit `cid`: its commit block decoded, its MST known by its root only (nodes load from `source` when reached). */
export const loadHead = (source: BlockSource, cid: Cid): RepoHead => {
  const bytes = source(ref(cid))
  if (!bytes) throw new Error(`commit block ${cid.toString()} missing`)
  const commit = cborDecode(bytes) as unknown as Commit
  return { cid, commit, root: stubTree(ref(commit.data), source) }
}

/**
 * Builds the next signed commit from `head` and `writes`: what @atproto/repo's
 * `Repo.formatCommit` builds (the same data root, new blocks, removed CIDs and
 * covering proofs for sync v1.1 — held to it by
 * tests/commit-differential.test.ts), from the nodes already in memory. Only
 * the nodes a write reaches are loaded, only the nodes it changes are
 * re-encoded. Two differences, both where records are identical: the event's
 * blocks carry every written record (the library's can lack one whose block
 * the store already has), and where the library's walk takes unchanged
 * identical records for deleted and added again (when the tree changes
 * height), its new and removed CIDs differ from these; the store ends up with
 * exactly the blocks the head reaches either way.
 *
 * What the library finds with a walk of the old and the new tree (DataDiff),
 * this finds from the operations: every node the old tree loses was reached
 * by one of them, and a node is new exactly when it was re-encoded and is not
 * one of those. Record CIDs follow DataDiff's rules, applied in key order as
 * its walk meets them.
 *
 * `head.root` is changed in place: on any failure after this call the caller
 * must drop the head.
 */
export const formatCommit = async (
  head: RepoHead,
  writes: CommitWrite[],
  keypair: Keypair,
  source: BlockSource,
): Promise<{ commit: FormattedCommit; next: RepoHead }> => {
  const visited = new Map<MstNode, CidRef | null>()
  const walk = { source, visited }
  let root = head.root
  const leafChanges: { key: string; prev: CidRef | null; cid: CidRef | null }[] = []
  const leafBytes = new Map<string, Uint8Array>()
  for (const write of writes) {
    if (write.action === 'delete') {
      const res = remove(root, write.key, walk)
      root = res.root
      leafChanges.push({ key: write.key, prev: res.prev, cid: null })
    } else {
      const cid = ref(write.cid)
      const res = put(root, write.key, cid, walk)
      if (write.action === 'create' && res.prev) throw new KeyTakenError(write.key)
      root = res.root
      leafChanges.push({ key: write.key, prev: res.prev, cid })
      leafBytes.set(cid.key, write.bytes)
    }
  }
  const encoded: MstNode[] = []
  const dataRef = rootCid(root, encoded)

  // MST nodes: the old ones the new tree no longer has, and the new ones
  const oldCids = new Set<string>()
  for (const orig of visited.values()) if (orig) oldCids.add(orig.key)
  const newCids = new Set<string>()
  const reachable = new Set<MstNode>(encoded)
  const collect = (n: MstNode): void => {
    newCids.add(n.cid!.key)
    if (!visited.has(n) && !reachable.has(n)) return // untouched: so is everything below it
    for (const e of n.entries) if (e.child !== undefined) collect(e.child)
  }
  collect(root)
  const removed = new Map<string, CidRef>()
  for (const orig of visited.values()) if (orig && !newCids.has(orig.key)) removed.set(orig.key, orig)
  const newBlocks = new Map<string, CommitBlock>()
  for (const n of encoded) if (!oldCids.has(n.cid!.key)) addBlock(newBlocks, n.cid!, n.bytes!)

  // record CIDs, as DataDiff's leafAdd / leafUpdate / leafDelete
  const newLeaves = new Map<string, CidRef>()
  const sorted = [...leafChanges].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  for (const { prev, cid } of sorted) {
    if (cid && !prev) {
      if (removed.has(cid.key)) removed.delete(cid.key)
      else newLeaves.set(cid.key, cid)
    } else if (cid && prev) {
      if (prev.equals(cid)) continue
      removed.set(prev.key, prev)
      newLeaves.set(cid.key, cid)
    } else if (prev) {
      if (newLeaves.has(prev.key)) newLeaves.delete(prev.key)
      else removed.set(prev.key, prev)
    }
  }

  // covering proofs of every written key, in the new tree
  const relevantBlocks = new Map<string, CommitBlock>()
  for (const write of writes) {
    for (const n of coveringProof(root, write.key, { source })) addBlock(relevantBlocks, n.cid!, n.bytes!)
  }
  for (const leaf of newLeaves.values()) {
    const bytes = leafBytes.get(leaf.key)
    if (!bytes) throw new Error(`Missing leaf block: ${leaf.toString()}`)
    addBlock(newBlocks, leaf, bytes)
    addBlock(relevantBlocks, leaf, bytes)
  }
  // Every record the commit creates or updates travels with its event, even when the store already
  // has its block: a record identical to one this commit deletes (or, in @atproto/repo's own walk,
  // to one it passes over) is not a new block, and the library's event then lacks the record.
  for (const change of leafChanges) if (change.cid) addBlock(relevantBlocks, change.cid, leafBytes.get(change.cid.key)!)

  const removedCids = [...removed.values()]
  const dataCid = cidOf(dataRef)
  const rev = TID.nextStr(head.commit.rev)
  const unsigned: UnsignedCommit = { did: head.commit.did, version: 3, rev, prev: null, data: dataCid }
  // @atproto/repo's signCommit, with the direct encoder (held to the library's bytes in common's tests)
  const signed: Commit = { ...unsigned, sig: await keypair.sign(encodeCbor(unsigned)) }
  const commitBytes = encodeCbor(signed)
  const commitCid = cborCid(commitBytes)
  if (!commitCid.equals(head.cid)) {
    const commitRef = ref(commitCid)
    addBlock(newBlocks, commitRef, commitBytes)
    addBlock(relevantBlocks, commitRef, commitBytes)
    removedCids.push(ref(head.cid))
  }
  return {
    commit: {
      cid: commitCid,
      rev,
      since: head.commit.rev,
      prev: head.cid,
      newBlocks: [...newBlocks.values()],
      relevantBlocks: [...relevantBlocks.values()],
      removedCids,
    },
    next: { cid: commitCid, commit: signed, root },
  }
}
