import { lexToJson } from '@atproto/lex-json'
import type { LexValue } from '@atproto/lex-data'
import type { DatetimeString, DidString } from '@atproto/syntax'
import { CborError, decodeCbor } from '@atsuite/common/dag-cbor'
import type { IndexerCounters, SkipReason } from './counters.ts'
import type { RecordOp } from './events.ts'
import { toLex } from './lex.ts'
import { RecordRefusal, type AnyPlugin } from './plugin.ts'
import { plugins } from './plugins/index.ts'
import type { IndexWriter } from './writer.ts'

type StoredRecord = { cid: string; collection: string; rkey: string }

/**
 * Applies record creates, updates and deletes through the collection
 * plugins, synchronously (the caller holds the transaction). The generic
 * `record` row (the JSON views return) is written beside the plugin's rows;
 * a refused record gets a row too (with its reason and no content), so the
 * same version is never tried, or counted, twice. Idempotent: re-applying a
 * create of the same CID does nothing.
 */
export class RecordProcessor {
  private readonly w: IndexWriter
  private readonly counters: IndexerCounters
  private readonly maxRecordBytes: number

  constructor(w: IndexWriter, counters: IndexerCounters, maxRecordBytes: number) {
    this.w = w
    this.counters = counters
    this.maxRecordBytes = maxRecordBytes
  }

  /** Applies one op of a commit; false when the op needs a resync (its block is missing). */
  applyOp(did: DidString, op: RecordOp, indexedAt: DatetimeString): boolean {
    const plugin = plugins.get(op.collection)
    if (!plugin) return true
    if (op.action === 'delete') {
      this.deleteRecord(plugin, did, op.rkey)
      return true
    }
    if (!op.block) {
      this.counters.skip('missing_block')
      return false
    }
    this.putRecord(plugin, did, op.rkey, op.cid, op.block, indexedAt)
    return true
  }

  /** Indexes a record (replacing an earlier version at the same path). */
  putRecord(plugin: AnyPlugin, did: DidString, rkey: string, cid: string, bytes: Uint8Array, indexedAt: DatetimeString): void {
    const collection = plugin.collection
    const uri = `at://${did}/${collection}/${rkey}` as const
    const existing = this.w.get<{ cid: string }>('SELECT cid FROM record WHERE uri = ?', uri)
    if (existing?.cid === cid) return
    if (existing) this.deleteRecord(plugin, did, rkey)
    const refuse = (reason: SkipReason): void => {
      this.counters.skip(reason)
      this.w.run(
        'INSERT INTO record (uri, cid, did, collection, rkey, json, refusal, indexedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        uri,
        cid,
        did,
        collection,
        rkey,
        '{}',
        reason,
        indexedAt,
      )
    }
    if (bytes.length > this.maxRecordBytes) return refuse('too_big')
    let value: LexValue
    try {
      value = toLex(decodeCbor(bytes))
    } catch (err) {
      if (!(err instanceof CborError)) throw err
      return refuse('bad_record_cbor')
    }
    try {
      plugin.insert(this.w, { uri, cid, did, rkey, indexedAt }, value)
    } catch (err) {
      if (!(err instanceof RecordRefusal)) throw err
      return refuse(err.reason)
    }
    this.w.run(
      'INSERT INTO record (uri, cid, did, collection, rkey, json, refusal, indexedAt) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)',
      uri,
      cid,
      did,
      collection,
      rkey,
      JSON.stringify(lexToJson(value)),
      indexedAt,
    )
    this.counters.count('records_indexed')
  }

  deleteRecord(plugin: AnyPlugin, did: DidString, rkey: string): void {
    const uri = `at://${did}/${plugin.collection}/${rkey}` as const
    plugin.delete(this.w, uri, did)
    if (this.w.run('DELETE FROM record WHERE uri = ?', uri) > 0) this.counters.count('records_deleted')
  }

  /** Every indexed record of an account (resync diffs, account deletion). */
  recordsOf(did: DidString): Map<string, StoredRecord> {
    const rows = this.w.all<StoredRecord>('SELECT cid, collection, rkey FROM record WHERE did = ?', did)
    return new Map(rows.map((r) => [`${r.collection}/${r.rkey}`, r]))
  }

  /** Removes everything an account wrote (its records and what they counted). */
  deleteAllRecords(did: DidString): void {
    for (const r of this.recordsOf(did).values()) {
      const plugin = plugins.get(r.collection)
      if (plugin) this.deleteRecord(plugin, did, r.rkey)
    }
  }

  /**
   * Makes the index of an account equal a full repo snapshot: records not in
   * it are deleted, new or changed ones indexed.
   */
  applySnapshot(did: DidString, records: Map<string, { cid: string; bytes: Uint8Array }>, indexedAt: DatetimeString): void {
    const current = this.recordsOf(did)
    for (const [path, r] of current) {
      if (records.get(path)?.cid !== r.cid) {
        const plugin = plugins.get(r.collection)
        if (plugin) this.deleteRecord(plugin, did, r.rkey)
      }
    }
    for (const [path, r] of records) {
      if (current.get(path)?.cid === r.cid) continue
      const slash = path.indexOf('/')
      const collection = path.slice(0, slash)
      const plugin = plugins.get(collection)
      if (plugin) this.putRecord(plugin, did, path.slice(slash + 1), r.cid, r.bytes, indexedAt)
    }
  }
}
