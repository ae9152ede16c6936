import { sql, type SqlBool } from 'kysely'
import { isAtUriString, type AtUriString, type DatetimeString, type DidString } from '@atproto/syntax'
import type { AppViewDb } from '../db/index.ts'
import { InvalidRequestError } from '../errors.ts'
import { decodeCursor, decodeIdCursor, encodeCursor } from './cursor.ts'

/**
 * Search over the FTS5 tables 001-init created and indexer/writer.ts feeds:
 * `post_fts` (post text and tags) and `actor_fts` (handle, display name),
 * each keyed by the rowid of its `post` / `actor` row. MATCH expressions
 * come from data/search-query.ts only (user text is always quoted there).
 */
type FtsTables = {
  post_fts: { rowid: number; uri: AtUriString; text: string }
  actor_fts: { rowid: number; did: DidString; handle: string; displayName: string }
}

const fts = (db: AppViewDb) => db.kysely.withTables<FtsTables>()

/**
 * A query FTS5 refuses is the user's (search-query.ts should never build one;
 * if it does, a 400 beats a 500).
 */
const ftsRun = async <T>(run: () => Promise<T>, errorName: string): Promise<T> => {
  try {
    return await run()
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'SQLITE_ERROR' && err.message.startsWith('fts5:')) {
      throw new InvalidRequestError('the search query could not be understood', errorName)
    }
    throw err
  }
}

/** `hitsTotal` counts no further, and `top` pages no deeper (the lexicon allows a truncated count). */
export const HITS_CAP = 10_000

export type PostSearch = {
  /** an FTS5 expression from parsePostQuery */
  match: string
  sort: 'top' | 'latest'
  author?: DidString
  mentions?: DidString
  /** BCP-47, lower case; `en` also finds `en-US` */
  lang?: string
  since?: DatetimeString
  until?: DatetimeString
  tags: string[]
  /** a hostname, lower case, without `www.`; subdomains match too */
  domain?: string
  url?: string
}

// Record-level filters read the stored record's JSON (SQLite's json_each, like FTS5 itself the
// SQLite-specific part): only the rows the full-text match left are looked at.
const RECORD = sql`(SELECT record.json FROM record WHERE record.uri = post.uri)`
const FEATURES = sql`json_each(${RECORD}, '$.facets') AS f, json_each(f.value, '$.features') AS g`
const FEATURE_TYPE = sql`json_extract(g.value, '$."$type"')`
const LINKS = sql`(SELECT json_extract(g.value, '$.uri') AS u FROM ${FEATURES} WHERE ${FEATURE_TYPE} = 'app.bsky.richtext.facet#link'
  UNION ALL SELECT json_extract(${RECORD}, '$.embed.external.uri')
  UNION ALL SELECT json_extract(${RECORD}, '$.embed.media.external.uri'))`

const hasTag = (tag: string) => sql<SqlBool>`(
  EXISTS (SELECT 1 FROM json_each(${RECORD}, '$.tags') AS t WHERE lower(t.value) = lower(${tag}))
  OR EXISTS (SELECT 1 FROM ${FEATURES} WHERE ${FEATURE_TYPE} = 'app.bsky.richtext.facet#tag' AND lower(json_extract(g.value, '$.tag')) = lower(${tag})))`

const mentions = (did: DidString) =>
  sql<SqlBool>`EXISTS (SELECT 1 FROM ${FEATURES} WHERE ${FEATURE_TYPE} = 'app.bsky.richtext.facet#mention' AND json_extract(g.value, '$.did') = ${did})`

const linksTo = (url: string) => sql<SqlBool>`EXISTS (SELECT 1 FROM ${LINKS} AS l WHERE rtrim(l.u, '/') = ${url.replace(/\/+$/, '')})`

/** A link whose host is `domain` or a subdomain of it (the host cut at the first `/` after `://`). */
const linksToDomain = (domain: string) => sql<SqlBool>`EXISTS (
  SELECT 1 FROM (SELECT CASE WHEN instr(r, '/') > 0 THEN substr(r, 1, instr(r, '/') - 1) ELSE r END AS host
    FROM (SELECT lower(substr(l.u, instr(l.u, '://') + 3)) AS r FROM ${LINKS} AS l WHERE instr(l.u, '://') > 0))
  WHERE host = ${domain} OR substr(host, ${-(domain.length + 1)}) = ${`.${domain}`})`

/** Posts matching a search, by active authors, before any cursor or order. */
const postMatches = (db: AppViewDb, s: PostSearch) => {
  let q = fts(db)
    .selectFrom('post_fts')
    .innerJoin('post', (j) => j.on(sql<SqlBool>`post.rowid = post_fts.rowid`))
    .innerJoin('actor', 'actor.did', 'post.creator')
    .where(sql<SqlBool>`post_fts MATCH ${s.match}`)
    .where('actor.status', 'is', null)
  if (s.author) q = q.where('post.creator', '=', s.author)
  if (s.since) q = q.where('post.sortAt', '>=', s.since)
  if (s.until) q = q.where('post.sortAt', '<', s.until)
  if (s.lang) {
    const langs = sql`(',' || lower(coalesce(post.langs, '')) || ',')`
    q = q.where(sql<SqlBool>`(instr(${langs}, ${`,${s.lang},`}) > 0 OR instr(${langs}, ${`,${s.lang}-`}) > 0)`)
  }
  for (const tag of s.tags) q = q.where(hasTag(tag))
  if (s.mentions) q = q.where(mentions(s.mentions))
  if (s.url) q = q.where(linksTo(s.url))
  if (s.domain) q = q.where(linksToDomain(s.domain))
  return q
}

const isUriKey = (k: string): k is AtUriString => isAtUriString(k)

/**
 * One page of a post search. `latest`: newest first by sortAt, keyset cursor.
 * `top`: by engagement (likes, reposts, replies, quotes), then text relevance;
 * an offset cursor (the order moves as counts change, as any engagement
 * ranking does), at most HITS_CAP deep.
 */
export const searchPostsQuery = (db: AppViewDb, s: PostSearch, limit: number, cursor: string | undefined) => {
  const base = postMatches(db, s).select(['post.uri as uri', 'post.sortAt as sortAt'])
  if (s.sort === 'top') {
    return base
      .leftJoin('record_agg', 'record_agg.uri', 'post.uri')
      .orderBy(
        sql`coalesce(record_agg.likeCount, 0) + coalesce(record_agg.repostCount, 0) + coalesce(record_agg.replyCount, 0) + coalesce(record_agg.quoteCount, 0)`,
        'desc',
      )
      .orderBy(sql`post_fts.rank`)
      .orderBy('post.uri', 'desc')
      .limit(limit)
      .offset(decodeIdCursor(cursor) ?? 0)
  }
  const ks = decodeCursor(cursor, isUriKey)
  return base
    .$if(!!ks, (qb) =>
      qb.where((eb) => eb.or([eb('post.sortAt', '<', ks!.sortAt), eb.and([eb('post.sortAt', '=', ks!.sortAt), eb('post.uri', '<', ks!.key)])])),
    )
    .orderBy('post.sortAt', 'desc')
    .orderBy('post.uri', 'desc')
    .limit(limit)
}

export type PostSearchSkeleton = { uris: AtUriString[]; cursor?: string; hitsTotal: number }

export const searchPostsSkeleton = async (db: AppViewDb, s: PostSearch, limit: number, cursor?: string): Promise<PostSearchSkeleton> => {
  const offset = s.sort === 'top' ? (decodeIdCursor(cursor) ?? 0) : 0
  const [rows, hits] = await ftsRun(
    () =>
      Promise.all([
        offset < HITS_CAP ? searchPostsQuery(db, s, limit, cursor).execute() : Promise.resolve([]),
        fts(db)
          .selectFrom(postMatches(db, s).select(sql`1`.as('one')).limit(HITS_CAP).as('hits'))
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirst(),
      ]),
    'BadQueryString',
  )
  const last = rows.at(-1)
  let next: string | undefined
  if (last && rows.length === limit) next = s.sort === 'top' ? String(offset + limit) : encodeCursor(last.sortAt, last.uri)
  return { uris: rows.map((r) => r.uri), ...(next ? { cursor: next } : {}), hitsTotal: Number(hits?.n ?? 0) }
}

/**
 * Active actors whose handle or display name match (every term a prefix), by
 * relevance (a handle hit weighs twice a display-name hit), then DID.
 */
export const searchActorsQuery = (db: AppViewDb, match: string, limit: number, offset: number) =>
  fts(db)
    .selectFrom('actor_fts')
    .innerJoin('actor', (j) => j.on(sql<SqlBool>`actor.rowid = actor_fts.rowid`))
    .select('actor.did as did')
    .where(sql<SqlBool>`actor_fts MATCH ${match}`)
    .where('actor.status', 'is', null)
    .orderBy(sql`bm25(actor_fts, 0.0, 2.0, 1.0)`)
    .orderBy('actor.did')
    .limit(limit)
    .offset(offset)

export type ActorSearchSkeleton = { dids: DidString[]; cursor?: string }

/** The first `limit` actors of a search (typeahead). */
export const typeaheadSkeleton = async (db: AppViewDb, match: string, limit: number): Promise<DidString[]> =>
  (await ftsRun(() => searchActorsQuery(db, match, limit, 0).execute(), 'InvalidRequest')).map((r) => r.did)

/** A page of an actor search; the cursor is an offset (relevance has no stable key), at most HITS_CAP deep. */
export const searchActorsSkeleton = async (db: AppViewDb, match: string, limit: number, cursor?: string): Promise<ActorSearchSkeleton> => {
  const offset = decodeIdCursor(cursor) ?? 0
  if (offset >= HITS_CAP) return { dids: [] }
  const rows = await ftsRun(() => searchActorsQuery(db, match, limit, offset).execute(), 'InvalidRequest')
  return { dids: rows.map((r) => r.did), ...(rows.length === limit ? { cursor: String(offset + limit) } : {}) }
}
