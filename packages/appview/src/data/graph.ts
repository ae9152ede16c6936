import { sql, type SqlBool } from 'kysely'
import { isValidDid, isValidHandle, type AtIdentifierString, type AtUriString, type DatetimeString, type DidString } from '@atproto/syntax'
import type { AppViewDb } from '../db/index.ts'
import { inList } from '../db/sql.ts'
import { pairColumn, type PairTable } from '../db/pair-tables.ts'
import type { FeedItem } from '../views/feed.ts'
import { newestOf } from './feed.ts'

/** Lists up to this many members are read by merging members' index ranges (a SQLite compound select has at most 500 terms). */
const MERGE_MAX = 300
import type { Relationship } from '../views/graph.ts'
import { decodeCursor, encodeCursor, idPageOf, isDidKey, isIdKey, isUriKey, keysetBefore, pageOf, uriCursor } from './cursor.ts'

export type Page<T> = { items: T[]; cursor?: string }

/** A follow or block: who, whom, and where it sorts. */
export type EdgeRow = { uri: AtUriString; creator: DidString; subject: DidString; sortAt: DatetimeString }

/**
 * The earliest record of its (creator, subject) pair: a duplicate follow, like
 * or repost is stored (it counts once, see indexer/plugins/subject.ts) and
 * listed once: the earliest by (sortAt, id). One probe of the
 * `<table>_pair_idx` index per row, which its entries answer alone (likes and
 * reposts pair by `subjectId`, the subject's `record_agg.id`).
 */
export const firstOfPair = (table: PairTable) => {
  const column = pairColumn(table)
  return sql<SqlBool>`NOT EXISTS (SELECT 1 FROM ${sql.table(table)} AS dup
    WHERE ${sql.ref('dup.creator')} = ${sql.ref(`${table}.creator`)} AND ${sql.ref(`dup.${column}`)} = ${sql.ref(`${table}.${column}`)}
      AND (${sql.ref('dup.sortAt')}, ${sql.ref('dup.id')}) < (${sql.ref(`${table}.sortAt`)}, ${sql.ref(`${table}.id`)}))`
}

/** The query of one page of follows or blocks by creator or subject, newest first (exported for the query-plan test). */
export const edgePageQuery = (
  db: AppViewDb,
  table: 'follow' | 'block',
  by: 'creator' | 'subject',
  did: DidString,
  limit: number,
  cursor: string | undefined,
) => {
  const ks = decodeCursor(cursor, isIdKey)
  let q = db.kysely
    .selectFrom(table)
    .select(['id', 'uri', 'creator', 'subject', 'sortAt'])
    .where(by, '=', did)
    .where(firstOfPair(table))
  // the creator and subject indexes' order: (sortAt, id); the cursor names the last row's id
  if (ks) q = q.where(keysetBefore(`${table}.sortAt`, `${table}.id`, ks))
  return q.orderBy('sortAt', 'desc').orderBy('id', 'desc').limit(limit)
}

const edgePage = async (
  db: AppViewDb,
  table: 'follow' | 'block',
  by: 'creator' | 'subject',
  did: DidString,
  limit: number,
  cursor: string | undefined,
): Promise<Page<EdgeRow>> => idPageOf(await edgePageQuery(db, table, by, did, limit, cursor).execute(), limit)

/** Whom `did` follows, newest follow first. */
export const followsPage = (db: AppViewDb, did: DidString, limit: number, cursor?: string) => edgePage(db, 'follow', 'creator', did, limit, cursor)

/** Who follows `did`, newest follow first. */
export const followersPage = (db: AppViewDb, did: DidString, limit: number, cursor?: string) => edgePage(db, 'follow', 'subject', did, limit, cursor)

/** Whom `did` blocks, newest block first. */
export const blocksPage = (db: AppViewDb, did: DidString, limit: number, cursor?: string) => edgePage(db, 'block', 'creator', did, limit, cursor)

/** Whom `muter` muted, newest mute first (keyset on createdAt, subject). */
export const mutesPage = async (db: AppViewDb, muter: DidString, limit: number, cursor?: string): Promise<Page<DidString>> => {
  const ks = decodeCursor(cursor, isDidKey)
  let q = db.kysely.selectFrom('mute').select(['subject', 'createdAt']).where('muter', '=', muter)
  if (ks) q = q.where(keysetBefore('mute.createdAt', 'mute.subject', ks))
  const rows = await q.orderBy('createdAt', 'desc').orderBy('subject', 'desc').limit(limit).execute()
  const page = pageOf(rows, limit, (r) => encodeCursor(r.createdAt, r.subject))
  return { items: page.items.map((r) => r.subject), cursor: page.cursor }
}

/** Mutes are private app view state: a muter's mute of a subject, kept once (the first time counts for order). */
export const addMute = async (db: AppViewDb, muter: DidString, subject: DidString, createdAt: DatetimeString): Promise<void> => {
  await db.kysely
    .insertInto('mute')
    .values({ muter, subject, createdAt })
    .onConflict((oc) => oc.columns(['muter', 'subject']).doNothing())
    .execute()
}

export const removeMute = async (db: AppViewDb, muter: DidString, subject: DidString): Promise<void> => {
  await db.kysely.deleteFrom('mute').where('muter', '=', muter).where('subject', '=', subject).execute()
}

/**
 * Handles and DIDs as the DIDs of indexed actors, in two queries; an
 * identifier that names no indexed actor is absent from the map.
 */
export const resolveActors = async (db: AppViewDb, ids: readonly AtIdentifierString[]): Promise<Map<AtIdentifierString, DidString>> => {
  const dids = ids.filter((id) => isValidDid(id))
  const handles = ids.filter((id) => !isValidDid(id)).map((h) => h.toLowerCase()).filter((h) => isValidHandle(h))
  const [byDid, byHandle] = await Promise.all([
    dids.length ? db.kysely.selectFrom('actor').select('did').where('did', 'in', inList(dids)).execute() : Promise.resolve([]),
    handles.length
      ? db.kysely.selectFrom('actor').select(['did', 'handle']).where('handle', 'in', inList(handles)).execute()
      : Promise.resolve([]),
  ])
  const known = new Set(byDid.map((r) => r.did))
  const handleDid = new Map<string, DidString>(byHandle.flatMap((r) => (r.handle ? [[r.handle, r.did]] : [])))
  const out = new Map<AtIdentifierString, DidString>()
  for (const id of ids) {
    const did = isValidDid(id) ? (known.has(id) ? id : undefined) : handleDid.get(id.toLowerCase())
    if (did) out.set(id, did)
  }
  return out
}

/** Follows and blocks both ways between `actor` and each of `others` (the earliest record of each pair). */
export const relationships = async (db: AppViewDb, actor: DidString, others: DidString[]): Promise<Map<DidString, Relationship>> => {
  const out = new Map<DidString, Relationship>(others.map((d) => [d, {}]))
  if (others.length === 0) return out
  const from = (table: 'follow' | 'block') =>
    db.kysely.selectFrom(table).select(['subject as did', 'uri']).where('creator', '=', actor).where('subject', 'in', inList(others)).orderBy('sortAt', 'desc').orderBy('id', 'desc').execute()
  const to = (table: 'follow' | 'block') =>
    db.kysely.selectFrom(table).select(['creator as did', 'uri']).where('subject', '=', actor).where('creator', 'in', inList(others)).orderBy('sortAt', 'desc').orderBy('id', 'desc').execute()
  const [following, followedBy, blocking, blockedBy] = await Promise.all([from('follow'), to('follow'), from('block'), to('block')])
  // newest first, so the last write per DID is the earliest record of the pair
  for (const r of following) out.get(r.did)!.following = r.uri
  for (const r of followedBy) out.get(r.did)!.followedBy = r.uri
  for (const r of blocking) out.get(r.did)!.blocking = r.uri
  for (const r of blockedBy) out.get(r.did)!.blockedBy = r.uri
  return out
}

export type ListItemRow = { uri: AtUriString; subject: DidString; sortAt: DatetimeString }

/** A list's members, newest first. */
export const listItemsPage = async (db: AppViewDb, listUri: AtUriString, limit: number, cursor?: string): Promise<Page<ListItemRow>> => {
  const ks = decodeCursor(cursor, isUriKey)
  let q = db.kysely.selectFrom('list_item').select(['uri', 'subject', 'sortAt']).where('listUri', '=', listUri)
  if (ks) q = q.where(keysetBefore('list_item.sortAt', 'list_item.uri', ks))
  const rows = await q.orderBy('sortAt', 'desc').orderBy('uri', 'desc').limit(limit).execute()
  return pageOf(rows, limit, uriCursor)
}

/** An actor's lists of the given purposes (full `app.bsky.graph.defs#…` values), newest first. */
export const listsPage = async (db: AppViewDb, creator: DidString, purposes: string[], limit: number, cursor?: string): Promise<Page<AtUriString>> => {
  const ks = decodeCursor(cursor, isUriKey)
  if (purposes.length === 0) return { items: [] }
  let q = db.kysely.selectFrom('list').select(['uri', 'sortAt']).where('creator', '=', creator).where('purpose', 'in', purposes)
  if (ks) q = q.where(keysetBefore('list.sortAt', 'list.uri', ks))
  const rows = await q.orderBy('sortAt', 'desc').orderBy('uri', 'desc').limit(limit).execute()
  const page = pageOf(rows, limit, uriCursor)
  return { items: page.items.map((r) => r.uri), cursor: page.cursor }
}

/** The list's creator, or null when the list is not indexed. */
export const listCreator = async (db: AppViewDb, listUri: AtUriString): Promise<DidString | null> => {
  const row = await db.kysely.selectFrom('list').select('creator').where('uri', '=', listUri).executeTakeFirst()
  return row?.creator ?? null
}

/** Posts (not reposts) by the members of a list, newest first, like a timeline over them. */
export const listFeedPage = async (db: AppViewDb, listUri: AtUriString, limit: number, cursor?: string): Promise<Page<FeedItem>> => {
  const ks = decodeCursor(cursor, isUriKey)
  const members = await db.kysely.selectFrom('list_item').select('subject').distinct().where('listUri', '=', listUri).limit(MERGE_MAX + 1).execute()
  if (members.length <= MERGE_MAX) {
    // a list of up to a few hundred members: their newest posts merged as they stream from the index
    const rows = await newestOf(db, members.map((m) => m.subject), limit, ks, { postsOnly: true })
    const page = pageOf(rows, limit, uriCursor)
    return { items: page.items.map((r) => ({ postUri: r.postUri })), cursor: page.cursor }
  }
  let q = db.kysely
    .selectFrom('feed_item')
    .select(['uri', 'postUri', 'sortAt'])
    .where('type', '=', 'post')
    .where('originator', 'in', (eb) => eb.selectFrom('list_item').select('subject').where('listUri', '=', listUri))
  if (ks) q = q.where(keysetBefore('feed_item.sortAt', 'feed_item.uri', ks))
  const rows = await q.orderBy('sortAt', 'desc').orderBy('uri', 'desc').limit(limit).execute()
  const page = pageOf(rows, limit, uriCursor)
  return { items: page.items.map((r) => ({ postUri: r.postUri })), cursor: page.cursor }
}
