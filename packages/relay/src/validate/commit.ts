import { encode as cborEncode, decode as cborDecode } from '@atproto/lex-cbor'
import { isCid, type Cid } from '@atproto/lex-data'
import { CarError, cidKey, parseCar, sha256, type BlockMap } from './car.ts'
import { MstError, loadTree, put, remove, rootCid } from './mst.ts'
import type { SignatureVerifier } from './signature.ts'

// Pure, synchronous checks of a repo commit carried by a #commit or #sync
// event. No state, no I/O: the caller (ingest/processor.ts) supplies the
// signing key and applies rev/since/host rules around these.

export type RepoOp = { action: 'create' | 'update' | 'delete'; path: string; cid: Cid | null; prev?: Cid | null }

export type SignedCommit = { did: string; version: number; data: Cid; rev: string; prev: Cid | null; sig: Uint8Array }

export type ParsedCommit = {
  cid: Cid
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
 * when given; the root block is a v3 commit with well-typed fields. Never
 * checks the signature, the DID or rev against the event, or the MST.
 */
export const parseCommitCar = (car: Uint8Array, expectedRoot?: Cid): ParsedCommit => {
  let roots: Cid[], blocks: BlockMap
  try {
    ;({ roots, blocks } = parseCar(car))
  } catch (err) {
    if (err instanceof CarError) throw new CommitFormatError(err.message)
    throw err
  }
  if (roots.length !== 1 || !isCid(roots[0])) throw new CommitFormatError('CAR must have exactly one root')
  const root = roots[0]
  if (expectedRoot && !root.equals(expectedRoot)) throw new CommitFormatError('CAR root is not the event commit')
  const bytes = blocks.get(cidKey(root))
  if (!bytes) throw new CommitFormatError('commit block missing from CAR')
  let c: Record<string, unknown>
  try {
    c = cborDecode(bytes) as Record<string, unknown>
  } catch {
    throw new CommitFormatError('commit block is not DAG-CBOR')
  }
  if (
    !c || typeof c !== 'object' || typeof c.did !== 'string' || c.version !== 3 || !isCid(c.data) ||
    typeof c.rev !== 'string' || !(c.prev === null || c.prev === undefined || isCid(c.prev)) || !(c.sig instanceof Uint8Array)
  ) {
    throw new CommitFormatError('malformed commit object')
  }
  const { sig, ...rest } = c
  const unsigned = cborEncode(rest as never)
  return {
    cid: root,
    commit: { did: c.did, version: 3, data: c.data, rev: c.rev, prev: (c.prev as Cid | null | undefined) ?? null, sig },
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
    if ((op.action === 'create' || op.action === 'update') && op.cid && !parsed.blocks.has(cidKey(op.cid))) missing.push(op.path)
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
export const invertCommit = (parsed: ParsedCommit, ops: RepoOp[], prevData: Cid | null | undefined): string | null => {
  if (!prevData) return ops.length === 0 ? null : 'missing prevData'
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
