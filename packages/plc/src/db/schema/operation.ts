/**
 * One row per accepted operation, nullified ones included (the audit log
 * needs them). Never deleted.
 */
export interface OperationTable {
  /** Global acceptance order, assigned by the writer (max + 1, inside the write transaction). */
  seq: number
  did: string
  /** CIDv1 dag-cbor sha256 of the operation as stored, base32. */
  cid: string
  /** The operation JSON exactly as validated (unknown fields stripped). */
  operation: string
  /** 0 or 1: set when a recovery op forks the log before this op. */
  nullified: number
  /** ISO 8601 with milliseconds, strictly increasing with seq (see HACKING.md). */
  created_at: string
}
