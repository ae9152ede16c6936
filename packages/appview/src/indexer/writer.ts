import type Database from 'better-sqlite3'
import type { SqliteHandle } from '@atsuite/common'
import type { NotificationTable } from '../db/schema/notification.ts'

type Stmt = Database.Statement

export type RecordAggField = 'likeCount' | 'repostCount' | 'replyCount' | 'quoteCount'
export type ActorAggField = 'followersCount' | 'followsCount' | 'postsCount' | 'listsCount' | 'feedgensCount'

// each aggregate's statement, written once (the writer finds a prepared statement by its text)
const statementsFor = <F extends string>(fields: readonly F[], sql: (field: F) => string): Record<F, string> =>
  Object.fromEntries(fields.map((f) => [f, sql(f)])) as Record<F, string>
const RECORD_AGG_SQL = statementsFor<RecordAggField>(['likeCount', 'repostCount', 'replyCount', 'quoteCount'], (f) => `UPDATE record_agg SET ${f} = ${f} + ? WHERE id = ?`)
const ACTOR_AGG_SQL = statementsFor<ActorAggField>(
  ['followersCount', 'followsCount', 'postsCount', 'listsCount', 'feedgensCount'],
  (f) => `INSERT INTO actor_agg (did, ${f}) VALUES (?, ?) ON CONFLICT (did) DO UPDATE SET ${f} = actor_agg.${f} + excluded.${f}`,
)

export type NewNotification = Omit<NotificationTable, 'id'>

type Deltas<K, F extends string> = Map<K, Partial<Record<F, number>>>

const addDelta = <K, F extends string>(deltas: Deltas<K, F>, key: K, field: F, delta: number): void => {
  const d = deltas.get(key)
  if (d) d[field] = (d[field] ?? 0) + delta
  else deltas.set(key, { [field]: delta } as Partial<Record<F, number>>)
}

/** Each row's nonzero changes, rows in key order (`compare`, or the default string order). */
function* changesInOrder<K, F extends string>(deltas: Deltas<K, F>, compare?: (a: K, b: K) => number): Generator<[K, F, number]> {
  for (const key of [...deltas.keys()].sort(compare)) {
    for (const [field, delta] of Object.entries(deltas.get(key)!) as [F, number][]) if (delta) yield [key, field, delta]
  }
}

/** URI → `record_agg.id` kept in memory; past this many the map starts again (ids never change) */
const SUBJECT_ID_CACHE_MAX = 500_000

/**
 * The indexer's synchronous write path: prepared statements on the raw
 * SQLite handle, always called inside `transaction()` (so an event's rows,
 * its aggregates and the stream cursor commit together). Aggregate changes
 * are summed in memory during the transaction and written once per row at
 * its end: a popular post liked 200 times in one batch costs one upsert.
 * Every statement is plain SQL that PostgreSQL also accepts; the full-text
 * helpers are the SQLite-specific part.
 */
export class IndexWriter {
  readonly sqlite: SqliteHandle
  private stmts = new Map<string, Stmt>()
  /** by record_agg id */
  private recordDeltas: Deltas<number, RecordAggField> = new Map()
  private actorDeltas: Deltas<string, ActorAggField> = new Map()
  private readonly beforeCommitHooks: (() => void)[] = []
  private readonly rollbackHooks: (() => void)[] = []
  private subjectIds = new Map<string, number>()
  /** notifications of this transaction not yet written (see notify) */
  private notifications: NewNotification[] = []

  constructor(sqlite: SqliteHandle) {
    this.sqlite = sqlite
    // ids given in a transaction that rolled back were never written
    this.rollbackHooks.push(() => (this.subjectIds = new Map()))
  }

  /**
   * Runs fn in one IMMEDIATE transaction; the summed aggregate changes and
   * every `beforeCommit` hook's writes go in before it commits. When it
   * throws, `onRollback` hooks drop what they held for it.
   */
  transaction<T>(fn: () => T): T {
    try {
      return this.sqlite
        .transaction(() => {
          try {
            const out = fn()
            this.flushNotifications()
            this.flushAggregates()
            for (const hook of this.beforeCommitHooks) hook()
            return out
          } finally {
            this.recordDeltas = new Map()
            this.actorDeltas = new Map()
            this.notifications = []
          }
        })
        .immediate()
    } catch (err) {
      for (const hook of this.rollbackHooks) hook()
      throw err
    }
  }

  /** Writes a collaborator keeps in memory during a transaction, done at its end. */
  beforeCommit(hook: () => void): void {
    this.beforeCommitHooks.push(hook)
  }

  onRollback(hook: () => void): void {
    this.rollbackHooks.push(hook)
  }

  prep(sql: string): Stmt {
    let s = this.stmts.get(sql)
    if (!s) {
      s = this.sqlite.prepare(sql)
      this.stmts.set(sql, s)
    }
    return s
  }

  run(sql: string, ...params: unknown[]): number {
    return this.prep(sql).run(...params).changes
  }

  get<T>(sql: string, ...params: unknown[]): T | undefined {
    return this.prep(sql).get(...params) as T | undefined
  }

  all<T>(sql: string, ...params: unknown[]): T[] {
    return this.prep(sql).all(...params) as T[]
  }

  exists(sql: string, ...params: unknown[]): boolean {
    return this.prep(sql).get(...params) !== undefined
  }

  /**
   * The record's `record_agg.id`, its row made when it has none yet (a like
   * may come before its post): what likes and reposts are indexed by.
   */
  subjectId(uri: string): number {
    const known = this.subjectIds.get(uri)
    if (known !== undefined) return known
    const row =
      this.get<{ id: number }>('SELECT id FROM record_agg WHERE uri = ?', uri) ??
      this.get<{ id: number }>('INSERT INTO record_agg (uri) VALUES (?) RETURNING id', uri)!
    if (this.subjectIds.size >= SUBJECT_ID_CACHE_MAX) this.subjectIds = new Map()
    this.subjectIds.set(uri, row.id)
    return row.id
  }

  // aggregates (the row may precede its subject)

  /** `subject`: the record's URI, or its `record_agg` id when the caller has it already */
  bumpRecordAgg(subject: string | number, field: RecordAggField, delta: number): void {
    addDelta(this.recordDeltas, typeof subject === 'number' ? subject : this.subjectId(subject), field, delta)
  }

  bumpActorAgg(did: string, field: ActorAggField, delta: number): void {
    addDelta(this.actorDeltas, did, field, delta)
  }

  /**
   * Each row's summed changes, rows in key order (record ids, DIDs): the
   * updates walk each B-tree from one end to the other instead of landing
   * on a random page each.
   */
  private flushAggregates(): void {
    for (const [id, field, delta] of changesInOrder(this.recordDeltas, (a, b) => a - b)) this.run(RECORD_AGG_SQL[field], delta, id)
    for (const [did, field, delta] of changesInOrder(this.actorDeltas)) this.run(ACTOR_AGG_SQL[field], did, delta)
  }

  // notifications

  /**
   * Never notifies an actor of their own action. Written when the
   * transaction ends (or before a notification is deleted), sorted by
   * recipient and time: the recipient index then takes them in its own order.
   * Called only inside `transaction()`.
   */
  notify(n: NewNotification): void {
    if (n.recipient === n.author) return
    this.notifications.push(n)
  }

  private flushNotifications(): void {
    const list = this.notifications
    if (list.length === 0) return
    this.notifications = []
    list.sort((a, b) => (a.recipient < b.recipient ? -1 : a.recipient > b.recipient ? 1 : a.sortAt < b.sortAt ? -1 : a.sortAt > b.sortAt ? 1 : 0))
    for (const n of list) {
      this.run(
        `INSERT INTO notification (recipient, author, recordUri, recordCid, reason, reasonSubject, sortAt)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        n.recipient,
        n.author,
        n.recordUri,
        n.recordCid,
        n.reason,
        n.reasonSubject,
        n.sortAt,
      )
    }
  }

  /**
   * Removes a record's notifications, found through the recipient index: the
   * caller names who was notified and when (the record's sortAt). Returns how
   * many there were.
   */
  deleteNotifications(recordUri: string, recipients: Iterable<string>, sortAt: string): number {
    this.flushNotifications()
    let n = 0
    for (const recipient of new Set(recipients)) {
      n += this.run('DELETE FROM notification WHERE recipient = ? AND sortAt = ? AND recordUri = ?', recipient, sortAt, recordUri)
    }
    return n
  }

  // full text (SQLite FTS5; rows keyed by the indexed table's rowid)

  indexPostText(uri: string, text: string): void {
    this.run('INSERT INTO post_fts (rowid, text) SELECT rowid, ? FROM post WHERE uri = ?', text, uri)
  }

  unindexPostText(uri: string): void {
    this.run('DELETE FROM post_fts WHERE rowid = (SELECT rowid FROM post WHERE uri = ?)', uri)
  }

  /** (Re)indexes an actor's handle and display name for search. */
  indexActorText(did: string): void {
    const row = this.get<{ rowid: number; handle: string | null; displayName: string | null }>(
      `SELECT actor.rowid AS rowid, actor.handle AS handle, profile.displayName AS displayName
       FROM actor LEFT JOIN profile ON profile.did = actor.did WHERE actor.did = ?`,
      did,
    )
    if (!row) return
    this.run('DELETE FROM actor_fts WHERE rowid = ?', row.rowid)
    if (row.handle || row.displayName) {
      this.run(
        'INSERT INTO actor_fts (rowid, did, handle, displayName) VALUES (?, ?, ?, ?)',
        row.rowid,
        did,
        row.handle ?? '',
        row.displayName ?? '',
      )
    }
  }

  unindexActorText(did: string): void {
    this.run('DELETE FROM actor_fts WHERE rowid = (SELECT rowid FROM actor WHERE did = ?)', did)
  }
}
