import { cidForCbor, sha256, type BlockMap } from '@atsuite/common/car'
import { CborError, CidRef, decodeCbor, isMap } from '@atsuite/common/dag-cbor'

// A partial Merkle Search Tree, synchronous, for sync v1.1 inversion: the
// nodes present in a commit's CAR slice are loaded, every other subtree is a
// stub known only by its CID. Mutations that need a stub's contents throw
// PartialTreeError (the slice is not a covering proof). Only dirty nodes are
// re-encoded when the root CID is computed.
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
  /** stub: not in the CAR slice; only `cid` is known */
  stub: boolean
  /** valid when !dirty */
  cid: CidRef | null
  dirty: boolean
}

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

const newNode = (height: number, entries: Entry[] = []): MstNode => ({ height, entries, stub: false, cid: null, dirty: true })
const stubNode = (cid: CidRef, height: number): MstNode => ({ height, entries: [], stub: true, cid, dirty: false })

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
  const leaves: { key: string; value: CidRef; right: CidRef | null }[] = []
  let prevKey = ''
  for (const e of raw.e) {
    if (e.p > prevKey.length) throw new MstError('bad MST key prefix')
    const key = prevKey.slice(0, e.p) + Buffer.from(e.k.buffer, e.k.byteOffset, e.k.byteLength).toString('latin1')
    if (leaves.length > 0 && key <= prevKey) throw new MstError('MST keys out of order')
    leaves.push({ key, value: e.v, right: e.t })
    prevKey = key
  }
  let height: number
  if (leaves.length > 0) height = keyHeight(leaves[0].key)
  else if (expectedHeight !== undefined) height = expectedHeight
  else if (raw.l) {
    // pointer-only root (not canonical, but the root comparison decides): take the child's height
    const child = loadNode(raw.l, blocks, undefined)
    const node: MstNode = { height: child.height + 1, entries: [{ child }], stub: false, cid, dirty: false }
    return node
  } else height = 0
  if (expectedHeight !== undefined && height !== expectedHeight) throw new MstError('MST node at the wrong height')
  const entries: Entry[] = []
  if (raw.l) entries.push({ child: loadNode(raw.l, blocks, height - 1) })
  for (const leaf of leaves) {
    entries.push({ key: leaf.key, value: leaf.value })
    if (leaf.right) entries.push({ child: loadNode(leaf.right, blocks, height - 1) })
  }
  return { height, entries, stub: false, cid, dirty: false }
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

const need = (node: MstNode): MstNode => {
  if (node.stub) throw new PartialTreeError('MST slice does not cover the operation')
  return node
}

/** Value at key, or null. Throws PartialTreeError when the path runs into a stub. */
export const get = (root: MstNode, key: string, height = keyHeight(key)): CidRef | null => {
  let node = need(root)
  for (;;) {
    if (height > node.height) return null
    const i = position(node, key)
    if (height === node.height) {
      const e = node.entries[i]
      return e && e.key === key ? e.value : null
    }
    const prev = node.entries[i - 1]
    if (!prev || prev.child === undefined) return null
    node = need(prev.child)
  }
}

/** Sets key → value; returns the new root and the previous value (null if absent). */
export const put = (root: MstNode, key: string, value: CidRef): { root: MstNode; prev: CidRef | null } => {
  const res = insert(root, key, value, keyHeight(key))
  return { root: res.node, prev: res.prev }
}

const insert = (n: MstNode, key: string, value: CidRef, height: number): { node: MstNode; prev: CidRef | null } => {
  const node = need(n)
  if (height > node.height) {
    const parent = node.entries.length === 0 ? newNode(height) : newNode(node.height + 1, [{ child: node }])
    return insert(parent, key, value, height)
  }
  const i = position(node, key)
  if (height < node.height) {
    const prev = node.entries[i - 1]
    if (prev && prev.child !== undefined) {
      const res = insert(prev.child, key, value, height)
      if (res.prev === null || !res.prev.equals(value)) {
        node.entries[i - 1] = { child: res.node }
        node.dirty = true
      }
      return { node, prev: res.prev }
    }
    const child = insert(newNode(node.height - 1), key, value, height)
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
    const [left, right] = split(before.child, key)
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
const split = (n: MstNode, key: string): [MstNode | null, MstNode | null] => {
  const node = need(n)
  const i = position(node, key)
  const left = node.entries.slice(0, i)
  const right = node.entries.slice(i)
  const last = left[left.length - 1]
  if (last && last.child !== undefined) {
    left.pop()
    const [l, r] = split(last.child, key)
    if (l) left.push({ child: l })
    if (r) right.unshift({ child: r })
  }
  return [left.length ? newNode(node.height, left) : null, right.length ? newNode(node.height, right) : null]
}

/** Removes key; returns the new root (trimmed) and the removed value (null if absent). */
export const remove = (root: MstNode, key: string): { root: MstNode; prev: CidRef | null } => {
  const res = del(root, key, keyHeight(key))
  let node = res.node
  // the root is never a pointer-only layer
  while (node.entries.length === 1 && node.entries[0].child !== undefined) node = node.entries[0].child
  if (node.entries.length === 0 && !node.stub && node.height !== 0) node = newNode(0)
  return { root: node, prev: res.prev }
}

const del = (n: MstNode, key: string, height: number): { node: MstNode; prev: CidRef | null } => {
  const node = need(n)
  if (height > node.height) return { node, prev: null }
  const i = position(node, key)
  if (height < node.height) {
    const before = node.entries[i - 1]
    if (!before || before.child === undefined) return { node, prev: null }
    const res = del(before.child, key, height)
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
    node.entries.splice(i - 1, 3, { child: merge(before.child, after.child) })
  } else {
    node.entries.splice(i, 1)
  }
  node.dirty = true
  return { node, prev: at.value }
}

/** Joins two adjacent subtrees of the same height (left's keys all below right's). */
const merge = (a: MstNode, b: MstNode): MstNode => {
  const left = need(a)
  const right = need(b)
  const entries = [...left.entries, ...right.entries]
  const j = left.entries.length
  const l = entries[j - 1]
  const r = entries[j]
  if (l?.child !== undefined && r?.child !== undefined) entries.splice(j - 1, 2, { child: merge(l.child, r.child) })
  return newNode(left.height, entries)
}

/** The root CID, re-encoding only dirty nodes. */
export const rootCid = (node: MstNode): CidRef => {
  if (!node.dirty && node.cid) return node.cid
  const bytes = encodeNode(node)
  node.cid = cidForCbor(bytes)
  node.dirty = false
  return node.cid
}

// -- canonical DAG-CBOR for MST nodes: {e: [{k, p, t, v}], l} ---------------

const CID_TAG = [0xd8, 0x2a]

class Writer {
  buf = Buffer.allocUnsafe(1024)
  pos = 0
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }
  head(major: number, n: number): void {
    this.ensure(9)
    const m = major << 5
    if (n < 24) this.buf[this.pos++] = m | n
    else if (n < 0x100) {
      this.buf[this.pos++] = m | 24
      this.buf[this.pos++] = n
    } else if (n < 0x10000) {
      this.buf[this.pos++] = m | 25
      this.buf.writeUInt16BE(n, this.pos)
      this.pos += 2
    } else {
      this.buf[this.pos++] = m | 26
      this.buf.writeUInt32BE(n, this.pos)
      this.pos += 4
    }
  }
  text(s: string): void {
    this.head(3, s.length)
    this.ensure(s.length)
    this.pos += this.buf.write(s, this.pos, 'latin1')
  }
  bytes(b: Uint8Array): void {
    this.head(2, b.length)
    this.ensure(b.length)
    this.buf.set(b, this.pos)
    this.pos += b.length
  }
  latin1Bytes(s: string): void {
    this.head(2, s.length)
    this.ensure(s.length)
    this.pos += this.buf.write(s, this.pos, 'latin1')
  }
  cid(c: CidRef | null): void {
    this.ensure(2)
    if (c === null) {
      this.buf[this.pos++] = 0xf6
      return
    }
    this.buf[this.pos++] = CID_TAG[0]
    this.buf[this.pos++] = CID_TAG[1]
    this.head(2, c.bytes.length + 1)
    this.ensure(c.bytes.length + 1)
    this.buf[this.pos++] = 0
    this.buf.set(c.bytes, this.pos)
    this.pos += c.bytes.length
  }
}

const childCid = (e: Entry | undefined): CidRef | null => (e && e.child !== undefined ? rootCid(e.child) : null)

/** Encodes a node; child CIDs are computed (recursively) first. */
export const encodeNode = (node: MstNode): Uint8Array => {
  const { entries } = node
  const leaves: { key: string; value: CidRef; right: CidRef | null }[] = []
  const left = childCid(entries[0])
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]
    if (e.key === undefined) continue
    leaves.push({ key: e.key, value: e.value, right: childCid(entries[i + 1]) })
  }
  const w = new Writer()
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
    w.cid(leaf.right)
    w.text('v')
    w.cid(leaf.value)
    prev = leaf.key
  }
  w.text('l')
  w.cid(left)
  return w.buf.subarray(0, w.pos)
}

let emptyTree: CidRef | null = null

/** The root CID of an empty repo's MST (a first commit inverts to it). */
export const emptyTreeCid = (): CidRef => {
  emptyTree ??= rootCid(newNode(0))
  return emptyTree
}
