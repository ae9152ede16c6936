import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'
import type { AppViewDb } from '../db/index.ts'
import type { SubjectIdTable } from '../db/pair-tables.ts'
import { InvalidRequestError } from '../errors.ts'
import type { FeedItem } from '../views/feed.ts'
import { decodeCursor, idPageOf, isIdKey, isUriKey, keysetBefore, pageOf, uriCursor } from './cursor.ts'
import { firstOfPair, type Page } from './graph.ts'

export type InteractionRow = { uri: AtUriString; creator: DidString; createdAt: DatetimeString; sortAt: DatetimeString }

/**
 * The query of one page of likes or reposts of a subject, newest first, one
 * per actor (exported for the query-plan test). The subject's CID is not a
 * filter (as the reference: a client's CID may name an older version of the
 * record). The index is keyed by the subject's `record_agg.id`: a subject
 * without a row was never liked or reposted.
 */
export const bySubjectQuery = (db: AppViewDb, table: SubjectIdTable, subject: AtUriString, limit: number, cursor?: string) => {
  const ks = decodeCursor(cursor, isIdKey)
  let q = db.kysely
    .selectFrom(table)
    .select(['id', 'uri', 'creator', 'createdAt', 'sortAt'])
    .where('subjectId', '=', (eb) => eb.selectFrom('record_agg').select('id').where('record_agg.uri', '=', subject))
    .where(firstOfPair(table))
  // the subject index's order: (sortAt, id); the cursor names the last row's id
  if (ks) q = q.where(keysetBefore(`${table}.sortAt`, `${table}.id`, ks))
  return q.orderBy('sortAt', 'desc').orderBy('id', 'desc').limit(limit)
}

const bySubject = async (db: AppViewDb, table: SubjectIdTable, subject: AtUriString, limit: number, cursor?: string): Promise<Page<InteractionRow>> =>
  idPageOf(await bySubjectQuery(db, table, subject, limit, cursor).execute(), limit)

export const likesPage = (db: AppViewDb, subject: AtUriString, limit: number, cursor?: string) => bySubject(db, 'like', subject, limit, cursor)

export const repostsPage = (db: AppViewDb, subject: AtUriString, limit: number, cursor?: string) => bySubject(db, 'repost', subject, limit, cursor)

/** Posts quoting a record (directly or beside media), newest first. */
export const quotesPage = async (db: AppViewDb, subject: AtUriString, limit: number, cursor?: string): Promise<Page<AtUriString>> => {
  const ks = decodeCursor(cursor, isUriKey)
  let q = db.kysely.selectFrom('post').select(['uri', 'sortAt']).where('quoteUri', '=', subject)
  if (ks) q = q.where(keysetBefore('post.sortAt', 'post.uri', ks))
  const rows = await q.orderBy('sortAt', 'desc').orderBy('uri', 'desc').limit(limit).execute()
  const page = pageOf(rows, limit, uriCursor)
  return { items: page.items.map((r) => r.uri), cursor: page.cursor }
}

/**
 * Posts an actor liked, most recent like first: the actor's likes are one
 * range of the (creator, rkey) key index, newest record key (a TID) first;
 * the cursor is the last like's URI.
 */
export const actorLikesPage = async (db: AppViewDb, actor: DidString, limit: number, cursor?: string): Promise<Page<FeedItem>> => {
  const prefix = `at://${actor}/app.bsky.feed.like/` as const
  let q = db.kysely
    .selectFrom('like')
    .select(['uri', 'subject'])
    .where('creator', '=', actor)
    .where('subject', 'like', 'at://%/app.bsky.feed.post/%')
    .where(firstOfPair('like'))
  if (cursor !== undefined && cursor !== '') {
    if (!cursor.startsWith(prefix) || !isUriKey(cursor) || cursor.length === prefix.length) throw new InvalidRequestError('Malformed cursor')
    q = q.where('rkey', '<', cursor.slice(prefix.length))
  }
  const rows = await q.orderBy('rkey', 'desc').limit(limit).execute()
  const last = rows.at(-1)
  return { items: rows.map((r) => ({ postUri: r.subject })), cursor: rows.length === limit && last ? last.uri : undefined }
}
