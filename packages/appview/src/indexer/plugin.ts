import type { LexValue } from '@atproto/lex-data'
import { isValidDid, toDatetimeString, type AtUriString, type DatetimeString, type DidString, type NsidString } from '@atproto/syntax'
import type { IndexWriter } from './writer.ts'
import type { OwnTable } from '../db/pair-tables.ts'

/** Where a record comes from: its URI parts and when we indexed it. */
export type RecordMeta = {
  uri: AtUriString
  cid: string
  did: DidString
  rkey: string
  indexedAt: DatetimeString
  /** the record in the atproto JSON encoding */
  json: string
}

/** A validated record about to be indexed. */
export type IndexedRecord<T> = RecordMeta & { record: T }

/** Why a record was refused before indexing (each a counter; see HACKING.md). */
export class RecordRefusal extends Error {
  readonly reason: 'invalid_record' | 'self_reference' | 'bad_rkey'
  constructor(reason: RecordRefusal['reason'], message: string) {
    super(message)
    this.reason = reason
  }
}

/**
 * One collection's indexing: what a create adds (rows, aggregates,
 * notifications) and what a delete takes back. An update is delete + insert
 * of the same URI. Both run synchronously inside the batch transaction;
 * `delete` reads what it needs from its own table, so it is exact whatever
 * arrived before it.
 */
export interface IndexerPlugin<T> {
  collection: NsidString
  /**
   * The table holding this collection's records (their JSON in its `json`
   * column, keyed by URI) instead of the generic `record` table: one row
   * written per record rather than two.
   */
  table?: OwnTable
  /** lexicon validation (and semantic checks); throws RecordRefusal */
  parse(value: LexValue, uri: AtUriString): T
  insert(w: IndexWriter, r: IndexedRecord<T>): void
  delete(w: IndexWriter, uri: AtUriString, did: DidString): void
}

/** A plugin with its record type closed over, as the processor holds them. */
export type AnyPlugin = {
  collection: NsidString
  table?: OwnTable
  /** lexicon validation and the collection's own rules; throws RecordRefusal */
  check(value: LexValue, uri: AtUriString): void
  /** indexes a value that passed `check` (on this thread or the stream's) */
  insert(w: IndexWriter, meta: RecordMeta, value: LexValue): void
  delete(w: IndexWriter, uri: AtUriString, did: DidString): void
}

export const definePlugin = <T>(p: IndexerPlugin<T>): AnyPlugin => ({
  collection: p.collection,
  ...(p.table ? { table: p.table } : {}),
  check: (value, uri) => void p.parse(value, uri),
  // parse validates without transforming (the lexicon's validate mode): the checked value is the record
  insert: (w, meta, value) => p.insert(w, { ...meta, record: value as T }),
  delete: (w, uri, did) => p.delete(w, uri, did),
})

/** The earlier of a record's own date and its arrival, as ISO-8601 UTC. */
export const sortAtFor = (createdAt: string | undefined, indexedAt: DatetimeString): DatetimeString => {
  if (!createdAt) return indexedAt
  const t = Date.parse(createdAt)
  if (Number.isNaN(t)) return indexedAt
  const iso = toDatetimeString(new Date(t))
  return iso < indexedAt ? iso : indexedAt
}

/** The DID in an at:// URI's authority, or null when it names a handle or is malformed. */
export const didOfUri = (uri: string): DidString | null => {
  if (!uri.startsWith('at://did:')) return null
  const end = uri.indexOf('/', 5)
  const did = end === -1 ? uri.slice(5) : uri.slice(5, end)
  return isValidDid(did) ? did : null
}
