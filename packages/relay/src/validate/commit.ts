import { CarError, parseCar, sha256, type BlockMap } from '@atsuite/common/car'
import { CborError, CidRef, decodeCbor, isMap, omitMapKey } from '@atsuite/common/dag-cbor'
import { MstError, loadTree, put, remove, rootCid } from '@atsuite/common/mst'
import type { SignatureVerifier } from '@atsuite/common/signature'

// Pure, synchronous checks of a repo commit carried by a #commit or #sync
// event. No state, no I/O: the caller (ingest/processor.ts) supplies the
// signing key and applies rev/since/host rules around these.

export type RepoOp = { action: 'create' | 'update' | 'delete'; path: string; cid: CidRef | null; prev?: CidRef | null }

export type SignedCommit = { did: string; version: number; data: CidRef; rev: string; prev: CidRef | null; sig: Uint8Array }

export type ParsedCommit = {
  cid: CidRef
  commit: SignedCommit
  blocks: BlockMap
  /** DAG-CBOR of the commit without `sig`, and its sha-256: what was signed */
  unsigned: Uint8Array
  hash: Uint8Array
}

/** A commit that cannot be read at all (bad CAR, missing or malformed commit block). */
export class CommitFormatError extends Error {}

/**
 * Reads the commit out of a CAR slice. Always checks: the CAR parses and
 * every block matches its CID; exactly one root, equal to `expectedRoot`
 * when given; the root block is a canonical DAG-CBOR v3 commit with
 * well-typed fields. Never checks the signature, the DID or rev against the
 * event, or the MST.
 */
export const parseCommitCar = (car: Uint8Array, expectedRoot?: CidRef): ParsedCommit => {
  let roots: CidRef[], blocks: BlockMap
  try {
    ;({ roots, blocks } = parseCar(car, expectedRoot))
  } catch (err) {
    if (err instanceof CarError) throw new CommitFormatError(err.message)
    throw err
  }
  if (roots.length !== 1) throw new CommitFormatError('CAR must have exactly one root')
  const root = roots[0]
  if (expectedRoot && !root.equals(expectedRoot)) throw new CommitFormatError('CAR root is not the event commit')
  const bytes = blocks.get(root.key)
  if (!bytes) throw new CommitFormatError('commit block missing from CAR')
  let c, unsigned
  try {
    c = decodeCbor(bytes)
    unsigned = omitMapKey(bytes, 'sig')
  } catch (err) {
    if (err instanceof CborError) throw new CommitFormatError(`commit block: ${err.message}`)
    throw err
  }
  if (
    !isMap(c) || typeof c.did !== 'string' || c.version !== 3 || !(c.data instanceof CidRef) || typeof c.rev !== 'string' ||
    !(c.prev === null || c.prev === undefined || c.prev instanceof CidRef) || !(c.sig instanceof Uint8Array) || !unsigned
  ) {
    throw new CommitFormatError('malformed commit object')
  }
  return {
    cid: root,
    commit: { did: c.did, version: 3, data: c.data, rev: c.rev, prev: (c.prev as CidRef | null | undefined) ?? null, sig: c.sig },
    blocks,
    unsigned,
    hash: sha256(unsigned),
  }
}

export const verifyCommitSignature = (verifier: SignatureVerifier, parsed: ParsedCommit, didKey: string): boolean =>
  verifier.verify(didKey, parsed.unsigned, parsed.hash, parsed.commit.sig)

/** Record blocks named by creates and updates that the CAR slice lacks. */
export const missingRecordBlocks = (parsed: ParsedCommit, ops: RepoOp[]): string[] => {
  const missing: string[] = []
  for (const op of ops) {
    if ((op.action === 'create' || op.action === 'update') && op.cid && !parsed.blocks.has(op.cid.key)) missing.push(op.path)
  }
  return missing
}

/**
 * Sync v1.1 inversion: loads the MST at the commit's `data` from the CAR
 * slice, undoes every op (create → delete, update → previous value,
 * delete → re-add `prev`) and compares the resulting root with `prevData`.
 * Each op is also checked against the new tree (a create/update must find
 * its `cid` there, a delete must find nothing). Returns null when it
 * matches, else why not. Ops without `prev` where one is required (the
 * pre-1.1 format) cannot be inverted and fail.
 */
export const invertCommit = (parsed: ParsedCommit, ops: RepoOp[], prevData: CidRef | null | undefined): string | null => {
  if (!prevData) return ops.length === 0 ? null : 'missing prevData'
  if (ops.length === 0) return parsed.commit.data.equals(prevData) ? null : 'no ops, but data is not prevData'
  const seen = new Set<string>()
  try {
    let root = loadTree(parsed.commit.data, parsed.blocks)
    for (const op of ops) {
      if (seen.has(op.path)) return `duplicate op path ${op.path}`
      seen.add(op.path)
      if (op.action === 'create') {
        if (!op.cid || op.prev) return `malformed create op ${op.path}`
        const res = remove(root, op.path)
        if (!res.prev || !res.prev.equals(op.cid)) return `create ${op.path} does not match the tree`
        root = res.root
      } else if (op.action === 'update') {
        if (!op.cid || !op.prev) return `update ${op.path} without cid and prev`
        const res = put(root, op.path, op.prev)
        if (!res.prev || !res.prev.equals(op.cid)) return `update ${op.path} does not match the tree`
        root = res.root
      } else {
        if (op.cid || !op.prev) return `delete ${op.path} without prev`
        const res = put(root, op.path, op.prev)
        if (res.prev) return `delete ${op.path} but the key is still in the tree`
        root = res.root
      }
    }
    const computed = rootCid(root)
    return computed.equals(prevData) ? null : `inverted tree root ${computed.toString()} is not prevData ${prevData.toString()}`
  } catch (err) {
    if (err instanceof MstError) return err.message
    throw err
  }
}

/** Everything needed to check a #commit or #sync commit off the main thread (plain data: structured-clone friendly). */
export type VerifyJob = {
  did: string
  rev: string
  /** CAR slice */
  blocks: Uint8Array
  /** the event's commit CID (#commit); null for #sync, whose CAR root is the commit */
  root: Uint8Array | null
  /** did:key to check the signature with */
  key: string
  /** #commit ops to invert; null for #sync (nothing to invert) */
  ops: { action: RepoOp['action']; path: string; cid: Uint8Array | null; prev: Uint8Array | null }[] | null
  /** MST root the ops must invert to (prevData, or the empty tree for a first commit); null: missing */
  base: Uint8Array | null
}

export type VerifyResult =
  | { ok: false; reason: 'bad_commit'; message: string }
  | { ok: true; sigOk: boolean; commitCid: string; dataCid: string; inversion: string | null }

const ref = (b: Uint8Array | null): CidRef | null => (b ? new CidRef(b) : null)

/**
 * The stateless part of checking an event's commit: read the CAR, match the
 * commit's DID and rev with the event, verify the signature with `key`,
 * invert the ops (#commit) and look for their record blocks. Never looks
 * at account state (rev order, since): the caller does, in order.
 */
export const verifyJob = (verifier: SignatureVerifier, job: VerifyJob): VerifyResult => {
  let parsed: ParsedCommit
  try {
    parsed = parseCommitCar(job.blocks, job.root ? new CidRef(job.root) : undefined)
  } catch (err) {
    if (err instanceof CommitFormatError) return { ok: false, reason: 'bad_commit', message: err.message }
    throw err
  }
  if (parsed.commit.did !== job.did || parsed.commit.rev !== job.rev) {
    return { ok: false, reason: 'bad_commit', message: 'commit DID or rev differs from the event' }
  }
  const sigOk = verifyCommitSignature(verifier, parsed, job.key)
  let inversion: string | null = null
  if (sigOk && job.ops) {
    const ops: RepoOp[] = job.ops.map((op) => ({ action: op.action, path: op.path, cid: ref(op.cid), prev: ref(op.prev) }))
    inversion = invertCommit(parsed, ops, ref(job.base))
    if (!inversion) {
      const missing = missingRecordBlocks(parsed, ops)
      if (missing.length > 0) inversion = `record blocks missing for ${missing.join(', ')}`
    }
  }
  return { ok: true, sigOk, commitCid: parsed.cid.toString(), dataCid: parsed.commit.data.toString(), inversion }
}
