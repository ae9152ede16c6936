import type { DatetimeString, DidString } from '@atproto/syntax'
import type { IndexerCounters } from './counters.ts'
import type { RecordCheck, RecordOp } from './events.ts'
import type { AnyPlugin } from './plugin.ts'
import { isPairTable, rowByUri, type OwnTable } from '../db/pair-tables.ts'
import { plugins } from './plugins/index.ts'
import { preparedFromCheck, prepareRecord } from './prepare.ts'
import type { IndexWriter } from './writer.ts'

type StoredRecord = { cid: string; collection: string; rkey: string }

const OWN_TABLES: OwnTable[] = ['like', 'repost', 'follow', 'block', 'list_item']

/** The key range of every record URI of one account (`at://<did>/…`). */
const accountRange = (did: string): [string, string] => [`at://${did}/`, `at://${did}0`]

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
    this.putRecord(plugin, did, op.rkey, op.cid, op.block, indexedAt, op.action === 'create', op.check)
    return true
  }

  /** The stored version of a record (indexed or refused), if any. */
  private stored(plugin: AnyPlugin, uri: string): { cid: string } | undefined {
    if (plugin.table) {
      const key = rowByUri(plugin.table, uri)
      const own = this.w.get<{ cid: string }>(`SELECT cid FROM "${plugin.table}" WHERE ${key.where}`, ...key.params)
      if (own) return own
    }
    return this.w.get<{ cid: string }>('SELECT cid FROM record WHERE uri = ?', uri)
  }

  /**
   * Indexes a record (replacing an earlier version at the same path). A
   * `create` in a commit that follows the indexed rev cannot find an earlier
   * version, so it skips the lookup (its inserts ignore a conflict anyway).
   */
  putRecord(
    plugin: AnyPlugin,
    did: DidString,
    rkey: string,
    cid: string,
    bytes: Uint8Array,
    indexedAt: DatetimeString,
    isCreate = false,
    check?: RecordCheck,
  ): void {
    const collection = plugin.collection
    const uri = `at://${did}/${collection}/${rkey}` as const
    if (!isCreate) {
      const existing = this.stored(plugin, uri)
      if (existing?.cid === cid) return
      if (existing) this.deleteRecord(plugin, did, rkey)
    }
    const prepared = check ? preparedFromCheck(check, bytes) : prepareRecord(plugin, uri, bytes, this.maxRecordBytes)
    if ('refusal' in prepared) {
      this.counters.skip(prepared.refusal)
      this.w.run(
        'INSERT INTO record (uri, cid, json, refusal, indexedAt) VALUES (?, ?, ?, ?, ?) ON CONFLICT (uri) DO NOTHING',
        uri,
        cid,
        '{}',
        prepared.refusal,
        indexedAt,
      )
      return
    }
    const json = prepared.json
    plugin.insert(this.w, { uri, cid, did, rkey, indexedAt, json }, prepared.value)
    if (!plugin.table) {
      this.w.run('INSERT INTO record (uri, cid, json, refusal, indexedAt) VALUES (?, ?, ?, NULL, ?) ON CONFLICT (uri) DO NOTHING', uri, cid, json, indexedAt)
    }
    this.counters.count('records_indexed')
  }

  deleteRecord(plugin: AnyPlugin, did: DidString, rkey: string): void {
    const uri = `at://${did}/${plugin.collection}/${rkey}` as const
    const key = plugin.table ? rowByUri(plugin.table, uri) : null
    const own = key ? this.w.exists(`SELECT 1 FROM "${plugin.table}" WHERE ${key.where}`, ...key.params) : false
    plugin.delete(this.w, uri, did)
    // the record row: an indexed record of a collection without its own table, or a refused one
    if (this.w.run('DELETE FROM record WHERE uri = ?', uri) > 0 || own) this.counters.count('records_deleted')
  }

  /** Every stored record of an account (resync diffs, account deletion): each table's key range for it. */
  recordsOf(did: DidString): Map<string, StoredRecord> {
    const [from, to] = accountRange(did)
    const out = new Map<string, StoredRecord>()
    for (const table of ['record', ...OWN_TABLES]) {
      // the pair tables are unique by (creator, rkey): the account's rows are those of its creator
      const rows = isPairTable(table)
        ? this.w.all<{ uri: string; cid: string }>(`SELECT uri, cid FROM "${table}" WHERE creator = ?`, did)
        : this.w.all<{ uri: string; cid: string }>(`SELECT uri, cid FROM "${table}" WHERE uri > ? AND uri < ?`, from, to)
      for (const r of rows) {
        const path = r.uri.slice(from.length)
        const slash = path.indexOf('/')
        out.set(path, { cid: r.cid, collection: path.slice(0, slash), rkey: path.slice(slash + 1) })
      }
    }
    return out
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
