import { parseCar } from '@atsuite/common/car'
import { CidRef, decodeCbor, decodeFrameBytes, isMap, type CborMap, type CborValue } from '@atsuite/common/dag-cbor'
import { isValidDid, type DidString } from '@atproto/syntax'
import type { RecordOp, StreamEvent } from './events.ts'

export class FrameError extends Error {}

export type DecodedFrame =
  | { kind: 'event'; event: StreamEvent }
  | { kind: 'info'; name: string; message?: string }
  | { kind: 'error'; error: string; message?: string }
  /** a message type this indexer does not act on (it still advances the cursor) */
  | { kind: 'skip'; seq: number | null }

const str = (m: CborMap, key: string): string => {
  const v = m[key]
  if (typeof v !== 'string') throw new FrameError(`${key} must be a string`)
  return v
}
const optStr = (m: CborMap, key: string): string | null => {
  const v = m[key]
  if (v === undefined || v === null) return null
  if (typeof v !== 'string') throw new FrameError(`${key} must be a string`)
  return v
}
const did = (m: CborMap, key: string): DidString => {
  const v = str(m, key)
  if (!isValidDid(v)) throw new FrameError(`${key} must be a DID`)
  return v
}
const int = (m: CborMap, key: string): number => {
  const v = m[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new FrameError(`${key} must be a non-negative integer`)
  return v
}
const cid = (v: CborValue | undefined, what: string): CidRef => {
  if (!(v instanceof CidRef)) throw new FrameError(`${what} must be a CID link`)
  return v
}

const parseOps = (ops: CborValue | undefined, blocks: Map<string, Uint8Array>): RecordOp[] => {
  if (!Array.isArray(ops)) throw new FrameError('ops must be an array')
  return ops.map((op): RecordOp => {
    if (!isMap(op)) throw new FrameError('op must be a map')
    const action = str(op, 'action')
    const path = str(op, 'path')
    const slash = path.indexOf('/')
    if (slash <= 0 || slash !== path.lastIndexOf('/') || slash === path.length - 1) throw new FrameError(`bad op path: ${path}`)
    const collection = path.slice(0, slash)
    const rkey = path.slice(slash + 1)
    if (action === 'delete') return { action, collection, rkey }
    if (action !== 'create' && action !== 'update') throw new FrameError(`bad op action: ${action}`)
    const c = cid(op.cid, 'op cid')
    return { action, collection, rkey, cid: c.toString(), block: blocks.get(c.key) ?? null }
  })
}

/** The commit object inside a commit's or sync's CAR. */
const readCommit = (car: Uint8Array, expected: CidRef | null): { commitCid: CidRef; dataCid: string; blocks: Map<string, Uint8Array> } => {
  const parsed = parseCar(car, expected ?? undefined)
  const root = expected ?? parsed.roots[0]
  if (!root) throw new FrameError('CAR without a root')
  const bytes = parsed.blocks.get(root.key)
  if (!bytes) throw new FrameError('commit block missing from CAR')
  const commit = decodeCbor(bytes)
  if (!isMap(commit)) throw new FrameError('commit block is not a map')
  return { commitCid: root, dataCid: cid(commit.data, 'commit data').toString(), blocks: parsed.blocks }
}

/**
 * Decodes one subscribeRepos frame. The upstream relay has verified
 * signatures and MST inversion; this checks the framing, the shapes this
 * indexer relies on, and that every block matches its CID.
 */
export const decodeFrame = (bytes: Uint8Array): DecodedFrame => {
  const frame = decodeFrameBytes(bytes)
  if (frame.op === -1) return { kind: 'error', error: frame.error, message: frame.message }
  const b = frame.body
  switch (frame.type) {
    case '#commit': {
      const seq = int(b, 'seq')
      const commitCid = cid(b.commit, 'commit')
      const blocksBytes = b.blocks
      if (!(blocksBytes instanceof Uint8Array)) throw new FrameError('blocks must be bytes')
      const tooBig = b.tooBig === true
      const { dataCid, blocks } =
        blocksBytes.length > 0 ? readCommit(blocksBytes, commitCid) : { dataCid: '', blocks: new Map<string, Uint8Array>() }
      const prevData = b.prevData instanceof CidRef ? b.prevData.toString() : null
      return {
        kind: 'event',
        event: {
          type: 'commit',
          seq,
          did: did(b, 'repo'),
          rev: str(b, 'rev'),
          since: optStr(b, 'since'),
          commitCid: commitCid.toString(),
          dataCid,
          prevData,
          tooBig: tooBig || blocksBytes.length === 0,
          ops: parseOps(b.ops, blocks),
          time: str(b, 'time'),
        },
      }
    }
    case '#sync': {
      const blocksBytes = b.blocks
      if (!(blocksBytes instanceof Uint8Array)) throw new FrameError('blocks must be bytes')
      const { commitCid } = readCommit(blocksBytes, null)
      return {
        kind: 'event',
        event: { type: 'sync', seq: int(b, 'seq'), did: did(b, 'did'), rev: str(b, 'rev'), commitCid: commitCid.toString(), time: str(b, 'time') },
      }
    }
    case '#identity':
      return {
        kind: 'event',
        event: { type: 'identity', seq: int(b, 'seq'), did: did(b, 'did'), handle: optStr(b, 'handle'), time: str(b, 'time') },
      }
    case '#account':
      return {
        kind: 'event',
        event: {
          type: 'account',
          seq: int(b, 'seq'),
          did: did(b, 'did'),
          active: b.active === true,
          status: optStr(b, 'status'),
          time: str(b, 'time'),
        },
      }
    case '#info':
      return { kind: 'info', name: typeof b.name === 'string' ? b.name : 'unknown', message: optStr(b, 'message') ?? undefined }
    default:
      return { kind: 'skip', seq: typeof b.seq === 'number' ? b.seq : null }
  }
}
