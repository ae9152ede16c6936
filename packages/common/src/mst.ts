import { cidForCbor, sha256, type BlockMap } from './car.ts'
import { CborError, CidRef, decodeCbor, isMap } from './dag-cbor.ts'
import { CborWriter } from './dag-cbor-encode.ts'

// A Merkle Search Tree, synchronous, mutated in place, with subtrees loaded
// only when an operation reaches them. Two uses:
// - the relay's sync v1.1 inversion (loadTree): the nodes present in a
//   commit's CAR slice are loaded, every other subtree is a stub known only by
//   its CID; an operation that needs a stub's contents throws PartialTreeError
//   (the slice is not a covering proof);
// - the PDS's commit path (stubTree + a BlockSource): stubs are read from the
//   account's store when reached, and an account's tree stays in memory
//   between commits.
// Only dirty nodes are re-encoded when the root CID is computed; every clean
// node keeps its bytes (as loaded or as last encoded).
//
// Shape (as in the atproto repo spec): a node at height h holds the keys of
// height h in its range, in order, with subtree pointers (nodes of height
// h-1) in the gaps; a gap with no keys has no pointer; a node may hold only
// a pointer (an intermediate layer); the root is never pointer-only; the
// empty tree is one node with no entries.

export class MstError extends Error {}
export class PartialTreeError extends MstError {}

type Leaf = { key: string; value: CidRef; child?: undefined }
type Sub = { child: MstNode; key?: undefined }
type Entry = Leaf | Sub

export type MstNode = {
  height: number
  entries: Entry[]
  /** stub: not loaded; only `cid` is known */
  stub: boolean
  /** valid when !dirty */
  cid: CidRef | null
  /** the encoding of `cid`, when known (loaded or encoded; null for a stub) */
  bytes: Uint8Array | null
  dirty: boolean
}

/** Where an operation reads a stub's block from (null/undefined: the block is not there). */
export type BlockSource = (cid: CidRef) => Uint8Array | null | undefined

/**
 * How an operation treats the tree beyond what is loaded: `source` loads
 * stubs (without it a stub throws PartialTreeError); `visited` records, for
 * every node an operation reaches, the CID it had when first reached (null
 * for a node created by the operation) — what a commit removed is among them.
 */
export type Walk = { source?: BlockSource; visited?: Map<MstNode, CidRef | null> }

/** Key height: leading zero bits of sha256(key), counted in pairs (fanout 4). */
export const keyHeight = (key: string): number => {
  const hash = sha256(Buffer.from(key, 'latin1'))
  let zeros = 0
  for (let i = 0; i < hash.length; i++) {
    const b = hash[i]
    if (b === 0) {
      zeros += 8
      continue
    }
    zeros += Math.clz32(b) - 24
    break
  }
  return Math.floor(zeros / 2)
}

const newNode = (height: number, entries: Entry[] = []): MstNode => ({ height, entries, stub: false, cid: null, bytes: null, dirty: true })
const stubNode = (cid: CidRef, height: number): MstNode => ({ height, entries: [], stub: true, cid, bytes: null, dirty: false })

/** A tree known only by its root CID; its nodes load from a BlockSource as operations reach them. */
export const stubTree = (root: CidRef, source: BlockSource): MstNode => {
  const bytes = source(root)
  if (!bytes) throw new MstError(`MST root ${root.toString()} not in the store`)
  const raw = decodeNode(bytes)
  if (raw.e.length === 0 && raw.l) {
    // a pointer-only root (not canonical; a repo imported from elsewhere may have one): one above its child
    const child = stubTree(raw.l, source)
    return { height: child.height + 1, entries: [{ child }], stub: false, cid: root, bytes, dirty: false }
  }
  return { ...shapeOf(raw, undefined, stubNode), stub: false, cid: root, bytes, dirty: false }
}

type RawEntry = { p: number; k: Uint8Array; v: CidRef; t: CidRef | null }
type RawNode = { l: CidRef | null; e: RawEntry[] }

const decodeNode = (bytes: Uint8Array): RawNode => {
  let raw
  try {
    raw = decodeCbor(bytes)
  } catch (err) {
    if (err instanceof CborError) throw new MstError(`MST node is not DAG-CBOR: ${err.message}`)
    throw err
  }
  if (!isMap(raw) || !Array.isArray(raw.e) || !(raw.l === null || raw.l instanceof CidRef)) throw new MstError('malformed MST node')
  const entries: RawEntry[] = []
  for (const e of raw.e) {
    if (!isMap(e) || typeof e.p !== 'number' || !(e.k instanceof Uint8Array) || !(e.v instanceof CidRef) || !(e.t === null || e.t instanceof CidRef)) {
      throw new MstError('malformed MST entry')
    }
    entries.push({ p: e.p, k: e.k, v: e.v, t: e.t })
  }
  return { l: raw.l, e: entries }
}

/**
 * Loads the tree rooted at `root` from `blocks`; absent subtrees become
 * stubs. Always checks node shape and that keys are strictly increasing
 * within a node. Never checks key heights beyond the first key of a node
 * (the caller's final root comparison is what proves the tree).
 */
export const loadTree = (root: CidRef, blocks: BlockMap): MstNode => {
  const node = loadNode(root, blocks, undefined)
  if (node.stub) throw new PartialTreeError('MST root not in blocks')
  return node
}

const loadNode = (cid: CidRef, blocks: BlockMap, expectedHeight: number | undefined): MstNode => {
  const bytes = blocks.get(cid.key)
  if (!bytes) {
    if (expectedHeight === undefined) throw new PartialTreeError('MST node height unknown: block missing')
    return stubNode(cid, expectedHeight)
  }
  const raw = decodeNode(bytes)
  if (raw.e.length === 0 && raw.l && expectedHeight === undefined) {
    // pointer-only root (not canonical, but the root comparison decides): take the child's height
    const child = loadNode(raw.l, blocks, undefined)
    return { height: child.height + 1, entries: [{ child }], stub: false, cid, bytes, dirty: false }
  }
  const shape = shapeOf(raw, expectedHeight, (c, h) => loadNode(c, blocks, h))
  return { ...shape, stub: false, cid, bytes, dirty: false }
}

const leavesOf = (raw: RawNode): { key: string; value: CidRef; right: CidRef | null }[] => {
  const leaves: { key: string; value: CidRef; right: CidRef | null }[] = []
  let prevKey = ''
  for (const e of raw.e) {
    if (e.p > prevKey.length) throw new MstError('bad MST key prefix')
    const key = prevKey.slice(0, e.p) + Buffer.from(e.k.buffer, e.k.byteOffset, e.k.byteLength).toString('latin1')
    if (leaves.length > 0 && key <= prevKey) throw new MstError('MST keys out of order')
    leaves.push({ key, value: e.v, right: e.t })
    prevKey = key
  }
  return leaves
}

/**
 * A node's height and entries from its decoded block, each subtree made by
 * `child` (loaded, or a stub). The height comes from the first key, or is the
 * expected one (the parent's height less one) for a node without keys.
 */
const shapeOf = (
  raw: RawNode,
  expectedHeight: number | undefined,
  child: (cid: CidRef, height: number) => MstNode,
): { height: number; entries: Entry[] } => {
  const leaves = leavesOf(raw)
  const height = leaves.length > 0 ? keyHeight(leaves[0]!.key) : (expectedHeight ?? 0)
  if (expectedHeight !== undefined && height !== expectedHeight) throw new MstError('MST node at the wrong height')
  const entries: Entry[] = []
  if (raw.l) entries.push({ child: child(raw.l, height - 1) })
  for (const leaf of leaves) {
    entries.push({ key: leaf.key, value: leaf.value })
    if (leaf.right) entries.push({ child: child(leaf.right, height - 1) })
  }
  return { height, entries }
}

/** Index of the first leaf greater than key (entries before it are all < key). */
const position = (node: MstNode, key: string): number => {
  const { entries } = node
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]
    if (e.key !== undefined && e.key >= key) return i
  }
  return entries.length
}

const leafIndex = (node: MstNode, key: string): number => {
  const i = position(node, key)
  const e = node.entries[i]
  return e && e.key === key ? i : -1
}

const need = (node: MstNode, w: Walk | undefined): MstNode => {
  if (node.stub) {
    const bytes = w?.source?.(node.cid!)
    if (!bytes) {
      if (w?.source) throw new MstError(`MST node ${node.cid!.toString()} not in the store`)
      throw new PartialTreeError('MST slice does not cover the operation')
    }
    // loaded in place: its subtrees become stubs
    node.entries = shapeOf(decodeNode(bytes), node.height, stubNode).entries
    node.stub = false
    node.bytes = bytes
  }
  if (w?.visited && !w.visited.has(node)) w.visited.set(node, node.dirty ? null : node.cid)
  return node
}

/** Value at key, or null. Throws PartialTreeError when the path runs into a stub. */
export const get = (root: MstNode, key: string, w?: Walk): CidRef | null => {
  const height = keyHeight(key)
  let node = need(root, w)
  for (;;) {
    if (height > node.height) return null
    const i = position(node, key)
    if (height === node.height) {
      const e = node.entries[i]
      return e && e.key === key ? e.value : null
    }
    const prev = node.entries[i - 1]
    if (!prev || prev.child === undefined) return null
    node = need(prev.child, w)
  }
}

/** Sets key → value; returns the new root and the previous value (null if absent). */
export const put = (root: MstNode, key: string, value: CidRef, w?: Walk): { root: MstNode; prev: CidRef | null } => {
  const res = insert(root, key, value, keyHeight(key), w)
  return { root: res.node, prev: res.prev }
}

const insert = (n: MstNode, key: string, value: CidRef, height: number, w: Walk | undefined): { node: MstNode; prev: CidRef | null } => {
  const node = need(n, w)
  if (height > node.height) {
    const parent = node.entries.length === 0 ? newNode(height) : newNode(node.height + 1, [{ child: node }])
    return insert(parent, key, value, height, w)
  }
  const i = position(node, key)
  if (height < node.height) {
    const prev = node.entries[i - 1]
    if (prev && prev.child !== undefined) {
      const res = insert(prev.child, key, value, height, w)
      if (res.prev === null || !res.prev.equals(value)) {
        node.entries[i - 1] = { child: res.node }
        node.dirty = true
      }
      return { node, prev: res.prev }
    }
    const child = insert(newNode(node.height - 1), key, value, height, w)
    node.entries.splice(i, 0, { child: child.node })
    node.dirty = true
    return { node, prev: null }
  }
  const at = node.entries[i]
  if (at && at.key === key) {
    const prev = at.value
    if (!prev.equals(value)) {
      node.entries[i] = { key, value }
      node.dirty = true
    }
    return { node, prev }
  }
  const before = node.entries[i - 1]
  if (before && before.child !== undefined) {
    const [left, right] = split(before.child, key, w)
    const replacement: Entry[] = []
    if (left) replacement.push({ child: left })
    replacement.push({ key, value })
    if (right) replacement.push({ child: right })
    node.entries.splice(i - 1, 1, ...replacement)
  } else {
    node.entries.splice(i, 0, { key, value })
  }
  node.dirty = true
  return { node, prev: null }
}

/** Splits a subtree around a key that is not in it: [keys < key, keys > key], null for an empty side. */
const split = (n: MstNode, key: string, w: Walk | undefined): [MstNode | null, MstNode | null] => {
  const node = need(n, w)
  const i = position(node, key)
  const left = node.entries.slice(0, i)
  const right = node.entries.slice(i)
  const last = left[left.length - 1]
  if (last && last.child !== undefined) {
    left.pop()
    const [l, r] = split(last.child, key, w)
    if (l) left.push({ child: l })
    if (r) right.unshift({ child: r })
  }
  return [left.length ? newNode(node.height, left) : null, right.length ? newNode(node.height, right) : null]
}

/** Removes key; returns the new root (trimmed) and the removed value (null if absent). */
export const remove = (root: MstNode, key: string, w?: Walk): { root: MstNode; prev: CidRef | null } => {
  const res = del(root, key, keyHeight(key), w)
  let node = res.node
  // The root is never a pointer-only layer. Each layer let go of here is loaded (a stub's entries are
  // unknown until then) and noted as reached, so a commit counts it among the nodes the tree lost.
  while (node.entries.length === 1 && node.entries[0]!.child !== undefined) node = need(node.entries[0]!.child, w)
  if (node.entries.length === 0 && !node.stub && node.height !== 0) node = newNode(0)
  return { root: node, prev: res.prev }
}

const del = (n: MstNode, key: string, height: number, w: Walk | undefined): { node: MstNode; prev: CidRef | null } => {
  const node = need(n, w)
  if (height > node.height) return { node, prev: null }
  const i = position(node, key)
  if (height < node.height) {
    const before = node.entries[i - 1]
    if (!before || before.child === undefined) return { node, prev: null }
    const res = del(before.child, key, height, w)
    if (res.prev === null) return { node, prev: null }
    if (res.node.entries.length === 0) node.entries.splice(i - 1, 1)
    else node.entries[i - 1] = { child: res.node }
    node.dirty = true
    return { node, prev: res.prev }
  }
  const at = node.entries[i]
  if (!at || at.key !== key) return { node, prev: null }
  const before = node.entries[i - 1]
  const after = node.entries[i + 1]
  if (before?.child !== undefined && after?.child !== undefined) {
    node.entries.splice(i - 1, 3, { child: merge(before.child, after.child, w) })
  } else {
    node.entries.splice(i, 1)
  }
  node.dirty = true
  return { node, prev: at.value }
}

/** Joins two adjacent subtrees of the same height (left's keys all below right's). */
const merge = (a: MstNode, b: MstNode, w: Walk | undefined): MstNode => {
  const left = need(a, w)
  const right = need(b, w)
  const entries = [...left.entries, ...right.entries]
  const j = left.entries.length
  const l = entries[j - 1]
  const r = entries[j]
  if (l?.child !== undefined && r?.child !== undefined) entries.splice(j - 1, 2, { child: merge(l.child, r.child, w) })
  return newNode(left.height, entries)
}

// -- covering proofs: @atproto/repo's MST.getCoveringProof, step for step ----

/**
 * The nodes that prove `key`'s value (or absence) and its neighbours on each
 * side, as @atproto/repo's `getCoveringProof` collects them (proof of the
 * key, of its left sibling, of its right sibling; each bottom-up). Call after
 * rootCid: every node returned has its CID and bytes. May repeat a node.
 */
export const coveringProof = (root: MstNode, key: string, w?: Walk): MstNode[] => [
  ...proofForKey(root, key, w),
  ...proofForLeftSib(root, key, w),
  ...proofForRightSib(root, key, w),
]

const proofForKey = (n: MstNode, key: string, w: Walk | undefined): MstNode[] => {
  const node = need(n, w)
  const i = position(node, key)
  const found = node.entries[i]
  let blocks: MstNode[]
  if (found && found.key === key) blocks = []
  else {
    const prev = node.entries[i - 1]
    if (!prev || prev.child === undefined) return []
    blocks = proofForKey(prev.child, key, w)
  }
  blocks.push(node)
  return blocks
}

const proofForLeftSib = (n: MstNode, key: string, w: Walk | undefined): MstNode[] => {
  const node = need(n, w)
  const prev = node.entries[position(node, key) - 1]
  const blocks = !prev || prev.child === undefined ? [] : proofForLeftSib(prev.child, key, w)
  blocks.push(node)
  return blocks
}

const proofForRightSib = (n: MstNode, key: string, w: Walk | undefined): MstNode[] => {
  const node = need(n, w)
  const i = position(node, key)
  const found = node.entries[i] ?? node.entries[i - 1]
  let blocks: MstNode[]
  if (!found) blocks = []
  else if (found.child !== undefined) blocks = proofForRightSib(found.child, key, w)
  else {
    const next = found.key === key ? node.entries[i + 1] : node.entries[i - 1]
    blocks = !next || next.child === undefined ? [] : proofForRightSib(next.child, key, w)
  }
  blocks.push(node)
  return blocks
}

/** The root CID, re-encoding only dirty nodes (each one encoded is added to `encoded`, children first). */
export const rootCid = (node: MstNode, encoded?: MstNode[]): CidRef => {
  if (!node.dirty && node.cid) return node.cid
  const bytes = encodeNode(node, encoded)
  node.cid = cidForCbor(bytes)
  node.bytes = bytes
  node.dirty = false
  encoded?.push(node)
  return node.cid
}

// -- canonical DAG-CBOR for MST nodes: {e: [{k, p, t, v}], l} ---------------

const childCid = (e: Entry | undefined, encoded: MstNode[] | undefined): CidRef | null =>
  e && e.child !== undefined ? rootCid(e.child, encoded) : null

/** Encodes a node; child CIDs are computed (recursively) first. */
export const encodeNode = (node: MstNode, encoded?: MstNode[]): Uint8Array => {
  const { entries } = node
  const leaves: { key: string; value: CidRef; right: CidRef | null }[] = []
  const left = childCid(entries[0], encoded)
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!
    if (e.key === undefined) continue
    leaves.push({ key: e.key, value: e.value, right: childCid(entries[i + 1], encoded) })
  }
  // children are encoded above, so one scratch writer serves every node
  const w = scratch
  w.pos = 0
  w.head(5, 2)
  w.text('e')
  w.head(4, leaves.length)
  let prev = ''
  for (const leaf of leaves) {
    let p = 0
    const max = Math.min(prev.length, leaf.key.length)
    while (p < max && prev.charCodeAt(p) === leaf.key.charCodeAt(p)) p++
    w.head(5, 4)
    w.text('k')
    w.latin1Bytes(leaf.key.slice(p))
    w.text('p')
    w.head(0, p)
    w.text('t')
    if (leaf.right) w.cid(leaf.right.bytes)
    else w.null()
    w.text('v')
    w.cid(leaf.value.bytes)
    prev = leaf.key
  }
  w.text('l')
  if (left) w.cid(left.bytes)
  else w.null()
  // a store of its own, not a slice of Node's 64 KiB pool: a node's bytes live as long as the
  // node does (between commits, in the account's cached tree), and a pool slice kept every
  // pool it touched alive (100,000 records: ~40 MB of pools pinned by a few bytes each)
  const out = Buffer.allocUnsafeSlow(w.pos)
  w.buf.copy(out, 0, 0, w.pos)
  return out
}

const scratch = new CborWriter()

let emptyTree: CidRef | null = null

/** The root CID of an empty repo's MST (a first commit inverts to it). */
export const emptyTreeCid = (): CidRef => {
  emptyTree ??= rootCid(newNode(0))
  return emptyTree
}
