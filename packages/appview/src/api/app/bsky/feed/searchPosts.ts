import { app } from '@atsuite/lexicon'
import { isAtIdentifierString, toDatetimeString, type DatetimeString, type DidString } from '@atproto/syntax'
import type { AppContext } from '../../../../context.ts'
import { parsePostQuery } from '../../../../data/search-query.ts'
import { searchPostsSkeleton, type PostSearch, type PostSearchSkeleton } from '../../../../data/search.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { hydratePosts } from '../../../../hydration/feed.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { postView } from '../../../../views/feed.ts'
import { clampLimit, fillPage, hydrateCtx, json, resolveActor, type Route } from '../../../util.ts'

type Params = app.bsky.feed.searchPosts.$Params

const MAX_QUERY_CHARS = 1_000

const badQuery = (message: string) => new InvalidRequestError(message, 'BadQueryString')

/** A datetime or a bare date (`YYYY-MM-DD`, midnight UTC), as sortAt compares. */
const dateBound = (value: string, name: string): DatetimeString => {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : Date.parse(value)
  if (!Number.isFinite(ms)) throw badQuery(`${name} must be a datetime or a date (YYYY-MM-DD)`)
  return toDatetimeString(new Date(ms))
}

const LANG = /^[a-z]{2,3}(-[a-z0-9]{1,8})*$/
const HOSTNAME = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/

/** An actor named in the query: a handle, a DID, or `me` (the viewer). Undefined when unknown. */
const actorOf = async (ctx: AppContext, value: string, viewer: DidString | null): Promise<DidString | undefined> => {
  if (value === 'me') return viewer ?? undefined
  if (!isAtIdentifierString(value)) return undefined
  return (await resolveActor(ctx, value)) ?? undefined
}

/**
 * The request as a search: `q`'s terms and operators, the parameters taking
 * precedence over operators in `q`. Null when it names an actor that is not
 * known here (nothing can match).
 */
const toSearch = async (ctx: AppContext, p: Params, viewer: DidString | null): Promise<PostSearch | null> => {
  if (p.q.length > MAX_QUERY_CHARS) throw badQuery(`q is longer than ${MAX_QUERY_CHARS} characters`)
  const parsed = parsePostQuery(p.q, p.tag ?? [])
  if (!parsed.match) throw badQuery('q has no words to search for')
  const sort = p.sort === 'top' ? 'top' : p.sort === undefined || p.sort === 'latest' ? 'latest' : null
  if (!sort) throw new InvalidRequestError(`Unknown sort: ${p.sort}`)
  const authorName = p.author ?? parsed.from
  const mentionsName = p.mentions ?? parsed.mentions
  const author = authorName !== undefined ? await actorOf(ctx, authorName, viewer) : undefined
  const mentions = mentionsName !== undefined ? await actorOf(ctx, mentionsName, viewer) : undefined
  if ((authorName !== undefined && !author) || (mentionsName !== undefined && !mentions)) return null
  const lang = (p.lang ?? parsed.lang)?.toLowerCase()
  if (lang !== undefined && !LANG.test(lang)) throw badQuery(`not a language tag: ${lang}`)
  const domain = (p.domain ?? parsed.domain)?.toLowerCase().replace(/^www\./, '')
  if (domain !== undefined && !HOSTNAME.test(domain)) throw badQuery(`not a hostname: ${domain}`)
  const since = p.since ?? parsed.since
  const until = p.until ?? parsed.until
  return {
    match: parsed.match,
    sort,
    tags: parsed.tags,
    ...(author ? { author } : {}),
    ...(mentions ? { mentions } : {}),
    ...(lang ? { lang } : {}),
    ...(since !== undefined ? { since: dateBound(since, 'since') } : {}),
    ...(until !== undefined ? { until: dateBound(until, 'until') } : {}),
    ...(domain ? { domain } : {}),
    ...(p.url ? { url: p.url } : {}),
  }
}

type Skeleton = PostSearchSkeleton & { viewer: DidString | null }

const searchPostsPipeline = createPipeline(
  async (ctx, p: { search: PostSearch; limit: number; cursor?: string }, hctx): Promise<Skeleton> => ({
    ...(await searchPostsSkeleton(ctx.db, p.search, p.limit, p.cursor)),
    viewer: hctx.viewer,
  }),
  (ctx, sk: Skeleton, state) => hydratePosts(ctx.db, sk.uris, state),
  (sk, view) => ({
    ...sk,
    // the viewer's own posts always; nobody's across a block, either way
    uris: sk.uris.filter((u) => {
      const post = view.state.posts.get(u)
      return !!post && (post.creator === sk.viewer || !view.state.blockedWith(post.creator))
    }),
  }),
  (sk, view) => ({
    posts: sk.uris.map((u) => postView(view, u)).filter((p) => p !== undefined),
    hitsTotal: sk.hitsTotal,
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/**
 * Full-text search over posts (text and tags) by active authors, with the
 * lexicon's filters and the search-box operators data/search-query.ts reads
 * from `q`. An empty query, or one with nothing to search for, is a 400
 * BadQueryString; FTS syntax in `q` is always searched for as text.
 */
export const searchPosts: Route = (server, ctx) => {
  // lex-schema drops empty query parameters, so `q=` would read as a missing q (InvalidRequest):
  // the lexicon calls an empty query BadQueryString, so say that before the params are parsed
  server.routes.get(`/xrpc/${app.bsky.feed.searchPosts.$nsid}`, (req, _res, next) => {
    const qs = new URLSearchParams(req.url.split('?')[1] ?? '')
    next(qs.has('q') && qs.getAll('q').every((q) => q.trim() === '') ? badQuery('q must not be empty') : undefined)
  })
  server.add(app.bsky.feed.searchPosts, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const hctx = hydrateCtx(auth)
      const search = await toSearch(ctx, params, hctx.viewer)
      if (!search) return json({ posts: [], hitsTotal: 0 })
      const body = await fillPage({
        limit: clampLimit(params.limit, 25, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => searchPostsPipeline(ctx, { search, limit, cursor }, hctx),
        items: (r) => r.posts,
      })
      return json(body)
    },
  })
}
