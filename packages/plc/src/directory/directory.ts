import { cidForLex } from '@atproto/lex-cbor'
import { parseCid } from '@atproto/lex-data'
import {
  assureValidNextOp,
  normalizeOp,
  opToData,
  type CompatibleOpOrTombstone,
  type DocumentData,
  type ExportedOp,
  type IndexedOperation,
  type OpOrTombstone,
} from '@did-plc/lib'
import type { Logger } from '@atsuite/common'
import { formatDidDocument, type DidDocument } from './document.ts'
import { DidNotFoundError, DidTombstonedError, InvalidOperationError } from './errors.ts'
import { KeyedQueue } from './lock.ts'
import type { OperationStore, StoredOp } from './store.ts'
import { assurePlcDid, assureStrictSig, fromLibError, parseIncomingOp } from './validate.ts'

export type SubmitResult = {
  cid: string
  /** false when the exact op was already in the DID's active log (an idempotent re-post). */
  applied: boolean
  nullified: string[]
}

export const MAX_EXPORT_COUNT = 1000

const toExported = (op: StoredOp): ExportedOp => ({
  did: op.did,
  operation: op.operation,
  cid: op.cid,
  nullified: op.nullified,
  createdAt: op.createdAt,
})

// @did-plc/lib compares CIDs with its own bundled multiformats 9; a
// multiformats 13 CID has the same fields (code, version, multihash.bytes),
// which is all that its `equals` reads.
const toIndexed = (op: StoredOp): IndexedOperation => ({
  did: op.did,
  operation: op.operation,
  cid: parseCid(op.cid) as unknown as IndexedOperation['cid'],
  nullified: op.nullified,
  createdAt: new Date(op.createdAt),
})

/**
 * The did:plc directory: accepts operations, answers resolution and audit
 * queries. Operations of one DID are validated and committed one at a time.
 */
export class PlcDirectory {
  private readonly store: OperationStore
  private readonly clock: () => Date
  private readonly log: Logger
  private readonly queue = new KeyedQueue()

  constructor(opts: { store: OperationStore; clock: () => Date; logger: Logger }) {
    this.store = opts.store
    this.clock = opts.clock
    this.log = opts.logger
  }

  /**
   * Validates `input` as the next operation of `did` and stores it.
   * Always checks: DID syntax, op shape and limits, genesis hash = DID,
   * `prev` is an active op of this DID and not a tombstone, the signature is a
   * canonical one by a rotation key of the op at `prev`, and for a fork
   * (nullification) that the signer outranks the signer of the first
   * nullified op and that op is under 72 h old. Throws InvalidOperationError
   * for any violation. Re-posting an op that is already in the DID's active
   * log is a no-op (so a client may retry after a timeout).
   */
  async submit(did: string, input: unknown): Promise<SubmitResult> {
    assurePlcDid(did)
    const op = parseIncomingOp(input)
    const cid = (await cidForLex(op)).toString()
    return this.queue.run(did, async () => {
      const log = await this.store.activeLog(did)
      if (log.some((entry) => entry.cid === cid)) {
        return { cid, applied: false, nullified: [] }
      }
      let nullified: string[]
      try {
        const verdict = await assureValidNextOp(did, log.map(toIndexed), op)
        nullified = verdict.nullified.map((c) => c.toString())
      } catch (err) {
        throw fromLibError(err)
      }
      await assureStrictSig(op, this.allowedSigners(log, op))
      const stored = this.store.append({
        did,
        cid,
        operation: op,
        nullify: nullified,
        expectedHeadSeq: log.at(-1)?.seq ?? null,
        now: this.clock(),
      })
      this.log.info(
        { did, cid, type: op.type, genesis: log.length === 0, nullified: nullified.length },
        'operation accepted',
      )
      return { cid: stored.cid, applied: true, nullified }
    })
  }

  // The rotation keys the lib checked the signature against (a superset, for
  // forks, of the keys it finally allowed).
  private allowedSigners(log: StoredOp[], op: OpOrTombstone): string[] {
    if (log.length === 0) {
      return op.type === 'plc_operation' ? op.rotationKeys : []
    }
    const prev = log.find((entry) => entry.cid === op.prev)
    if (!prev || prev.operation.type === 'plc_tombstone') {
      // the lib has already refused both cases
      throw new InvalidOperationError('MisorderedOperation', 'prev is not an active operation')
    }
    return normalizeOp(prev.operation).rotationKeys
  }

  /** Current document data; DidNotFoundError / DidTombstonedError otherwise. */
  async documentData(did: string): Promise<DocumentData> {
    const last = await this.store.lastActive(did)
    if (!last) throw new DidNotFoundError(did)
    const data = opToData(did, last.operation)
    if (data === null) throw new DidTombstonedError(did)
    return data
  }

  async document(did: string): Promise<DidDocument> {
    return formatDidDocument(await this.documentData(did))
  }

  /** Active ops, genesis first (a tombstone, if any, last). */
  async operationLog(did: string): Promise<CompatibleOpOrTombstone[]> {
    const log = await this.store.activeLog(did)
    if (log.length === 0) throw new DidNotFoundError(did)
    return log.map((entry) => entry.operation)
  }

  /** Every op ever accepted for the DID, nullified ones flagged. */
  async auditLog(did: string): Promise<ExportedOp[]> {
    const log = await this.store.auditLog(did)
    if (log.length === 0) throw new DidNotFoundError(did)
    return log.map(toExported)
  }

  /** The last active op, which may be a tombstone. */
  async lastOperation(did: string): Promise<CompatibleOpOrTombstone> {
    const last = await this.store.lastActive(did)
    if (!last) throw new DidNotFoundError(did)
    return last.operation
  }

  /** Ops of all DIDs created strictly after `after`, oldest first, nullified ones included. */
  async exportOps(after: Date | undefined, count: number): Promise<ExportedOp[]> {
    const page = await this.store.exportPage(after?.toISOString(), count)
    return page.map(toExported)
  }

  async healthCheck(): Promise<void> {
    await this.store.healthCheck()
  }

  /** Waits for queued submissions to finish (called before the database closes). */
  async drain(): Promise<void> {
    await this.queue.drain()
  }
}
