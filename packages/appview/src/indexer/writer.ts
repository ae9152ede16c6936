import type Database from 'better-sqlite3'
import type { SqliteHandle } from '@atsuite/common'
import type { NotificationTable } from '../db/schema/notification.ts'

type Stmt = Database.Statement

export type RecordAggField = 'likeCount' | 'repostCount' | 'replyCount' | 'quoteCount'
export type ActorAggField = 'followersCount' | 'followsCount' | 'postsCount' | 'listsCount' | 'feedgensCount'

export type NewNotification = Omit<NotificationTable, 'id'>

/**
 * The indexer's synchronous write path: prepared statements on the raw
 * SQLite handle, always called inside the batch's transaction (so an event's
 * rows, its aggregates and the stream cursor commit together). Every
 * statement is plain SQL that PostgreSQL also accepts; the full-text helpers
 * are the SQLite-specific part.
 */
export class IndexWriter {
  readonly sqlite: SqliteHandle
  private stmts = new Map<string, Stmt>()

  constructor(sqlite: SqliteHandle) {
    this.sqlite = sqlite
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

  // aggregates (the row may precede its subject)

  bumpRecordAgg(uri: string, field: RecordAggField, delta: number): void {
    this.run(
      `INSERT INTO record_agg (uri, ${field}) VALUES (?, ?)
       ON CONFLICT (uri) DO UPDATE SET ${field} = record_agg.${field} + excluded.${field}`,
      uri,
      delta,
    )
  }

  bumpActorAgg(did: string, field: ActorAggField, delta: number): void {
    this.run(
      `INSERT INTO actor_agg (did, ${field}) VALUES (?, ?)
       ON CONFLICT (did) DO UPDATE SET ${field} = actor_agg.${field} + excluded.${field}`,
      did,
      delta,
    )
  }

  // notifications

  /** Never notifies an actor of their own action. */
  notify(n: NewNotification): void {
    if (n.recipient === n.author) return
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

  /** Removes a record's notifications; returns how many there were. */
  deleteNotifications(recordUri: string): number {
    return this.run('DELETE FROM notification WHERE recordUri = ?', recordUri)
  }

  // full text (SQLite FTS5; rows keyed by the indexed table's rowid)

  indexPostText(uri: string, text: string): void {
    this.run('INSERT INTO post_fts (rowid, uri, text) SELECT rowid, uri, ? FROM post WHERE uri = ?', text, uri)
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
