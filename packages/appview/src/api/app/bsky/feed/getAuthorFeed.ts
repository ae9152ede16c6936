import { app } from '@atsuite/lexicon'
import type { AtUriString, DidString } from '@atproto/syntax'
import { authorFeedSkeleton, type AuthorFeedFilter, type FeedSkeleton } from '../../../../data/feed.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { hydrateFeedItems } from '../../../../hydration/feed.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { feedViewPost } from '../../../../views/feed.ts'
import { feedItemVisible } from '../../../../views/rules.ts'
import { clampLimit, hydrateCtx, json, repoRevHeaders, resolveActor, type Route } from '../../../util.ts'

const FILTERS: readonly AuthorFeedFilter[] = ['posts_with_replies', 'posts_no_replies', 'posts_with_media', 'posts_and_author_threads', 'posts_with_video']

type Params = { actor: DidString; filter: AuthorFeedFilter; limit: number; cursor?: string; includePins: boolean }
type Skeleton = FeedSkeleton & { actor: DidString; pinned?: AtUriString }

const getAuthorFeedPipeline = createPipeline(
  async (ctx, p: Params): Promise<Skeleton> => {
    const sk = await authorFeedSkeleton(ctx.db, p.actor, p.filter, p.limit, p.cursor)
    if (!p.includePins || p.cursor) return { ...sk, actor: p.actor }
    const pinned = await ctx.db.kysely.selectFrom('profile').select('pinnedPost').where('did', '=', p.actor).executeTakeFirst()
    const uri = pinned?.pinnedPost
    return uri?.startsWith(`at://${p.actor}/app.bsky.feed.post/`) ? { ...sk, actor: p.actor, pinned: uri } : { ...sk, actor: p.actor }
  },
  async (ctx, sk: Skeleton, state) => {
    await hydrateProfiles(ctx.db, [sk.actor], state)
    await hydrateFeedItems(ctx.db, sk.pinned ? [{ postUri: sk.pinned }, ...sk.items] : sk.items, state)
  },
  (sk, view) => {
    const a = view.state.actors.get(sk.actor)
    if (a?.status === 'takendown' || a?.status === 'suspended') throw new InvalidRequestError('Profile not found', 'AccountTakedown')
    if (a && a.status !== null) throw new InvalidRequestError('Account is deactivated', 'AccountDeactivated')
    const rel = view.state.actorViewers.get(sk.actor)
    if (rel?.blocking) throw new InvalidRequestError('Requester has blocked actor', 'BlockedActor')
    if (rel?.blockedBy) throw new InvalidRequestError('Requester is blocked by actor', 'BlockedByActor')
    return { ...sk, items: sk.items.filter((i) => feedItemVisible(view.state, i, { dropMuted: false })) }
  },
  (sk, view) => {
    const pin = sk.pinned ? feedViewPost(view, { postUri: sk.pinned }) : undefined
    const feed = sk.items
      .filter((i) => !(sk.pinned && i.postUri === sk.pinned && !i.repost))
      .map((i) => feedViewPost(view, i))
      .filter((f) => f !== undefined)
    return {
      feed: pin ? [{ ...pin, reason: { $type: 'app.bsky.feed.defs#reasonPin' as const } }, ...feed] : feed,
      ...(sk.cursor ? { cursor: sk.cursor } : {}),
    }
  },
)

/** An actor's posts (and reposts), newest first, with the lexicon's filters and the pinned post. */
export const getAuthorFeed: Route = (server, ctx) => {
  server.add(app.bsky.feed.getAuthorFeed, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const did = await resolveActor(ctx, params.actor)
      if (!did) throw new InvalidRequestError('Profile not found')
      const filter = FILTERS.find((f) => f === (params.filter ?? 'posts_with_replies'))
      if (!filter) throw new InvalidRequestError(`Unknown filter: ${params.filter}`)
      const body = await getAuthorFeedPipeline(
        ctx,
        { actor: did, filter, limit: clampLimit(params.limit, 50, 100), cursor: params.cursor, includePins: params.includePins ?? false },
        hydrateCtx(auth),
      )
      return json(body, await repoRevHeaders(ctx, auth.credentials.iss))
    },
  })
}
