import type { DidString } from '@atproto/syntax'
import type { RecordRefusal } from './plugin.ts'

/**
 * What the stream's thread concluded about a record before handing it over
 * (`prepare.ts`): its JSON, or why it is refused.
 */
export type RecordCheck = { json: string } | { refusal: RecordRefusal['reason'] | 'too_big' | 'bad_record_cbor' }

/** A record operation of a commit, with the record's block when it carries one. */
export type RecordOp =
  | { action: 'create' | 'update'; collection: string; rkey: string; cid: string; block: Uint8Array | null; check?: RecordCheck }
  | { action: 'delete'; collection: string; rkey: string }

export type CommitEvent = {
  type: 'commit'
  seq: number
  did: DidString
  rev: string
  since: string | null
  commitCid: string
  /** MST root of this commit (from the commit block) */
  dataCid: string
  prevData: string | null
  tooBig: boolean
  ops: RecordOp[]
  time: string
}

export type SyncEvent = { type: 'sync'; seq: number; did: DidString; rev: string; commitCid: string; time: string }
export type IdentityEvent = { type: 'identity'; seq: number; did: DidString; handle: string | null; time: string }
export type AccountEvent = { type: 'account'; seq: number; did: DidString; active: boolean; status: string | null; time: string }

/** What the indexer acts on, in stream order. */
export type StreamEvent = CommitEvent | SyncEvent | IdentityEvent | AccountEvent
