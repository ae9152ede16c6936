import { app } from '@atsuite/lexicon'
import type { AtUriString, DidString } from '@atproto/syntax'
import { listCreator, listFeedPage, type Page } from '../../../../data/graph.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { hydrateFeedItems } from '../../../../hydration/feed.ts'
import { hydrateBlockPairs } from '../../../../hydration/graph.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { feedViewPost, type FeedItem } from '../../../../views/feed.ts'
import { feedItemVisible } from '../../../../views/rules.ts'
import { clampLimit, fillPage, hydrateCtx, json, repoRevHeaders, type Route } from '../../../util.ts'

type Params = { list: AtUriString; limit: number; cursor?: string }
type Skeleton = Page<FeedItem> & { creator: DidString }

const unknownList = (uri: string) => new InvalidRequestError(`List not found: ${uri}`, 'UnknownList')

const getListFeedPipeline = createPipeline(
  async (ctx, p: Params): Promise<Skeleton> => {
    const creator = await listCreator(ctx.db, p.list)
    if (!creator) throw unknownList(p.list)
    return { ...(await listFeedPage(ctx.db, p.list, p.limit, p.cursor)), creator }
  },
  async (ctx, sk: Skeleton, state) => {
    await Promise.all([hydrateProfiles(ctx.db, [sk.creator], state), hydrateFeedItems(ctx.db, sk.items, state)])
    await hydrateBlockPairs(ctx.db, sk.creator, sk.items.flatMap((i) => state.posts.get(i.postUri)?.creator ?? []), state)
  },
  (sk, view, p) => {
    if (!view.state.activeActor(sk.creator)) throw unknownList(p.list)
    return {
      ...sk,
      items: sk.items.filter((i) => {
        const author = view.state.posts.get(i.postUri)?.creator
        return !!author && !view.state.blockedBetween(sk.creator, author) && feedItemVisible(view.state, i, { dropMuted: true })
      }),
    }
  },
  (sk, view) => ({
    feed: sk.items.map((i) => feedViewPost(view, i)).filter((f) => f !== undefined),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/**
 * Posts by a list's members, newest first. Left out as in a timeline (blocks
 * either way, mutes, hidden accounts), and posts by members blocked either
 * way with the list's creator.
 */
export const getListFeed: Route = (server, ctx) => {
  server.add(app.bsky.feed.getListFeed, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const hctx = hydrateCtx(auth)
      const body = await fillPage({
        limit: clampLimit(params.limit, 50, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => getListFeedPipeline(ctx, { list: params.list, limit, cursor }, hctx),
        items: (r) => r.feed,
      })
      return json(body, await repoRevHeaders(ctx, hctx.viewer))
    },
  })
}
