import { app } from '@atsuite/lexicon'
import type { DidString } from '@atproto/syntax'
import type { Page } from '../../../../data/graph.ts'
import { actorLikesPage } from '../../../../data/interactions.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { hydrateFeedItems } from '../../../../hydration/feed.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { feedViewPost, type FeedItem } from '../../../../views/feed.ts'
import { feedItemVisible } from '../../../../views/rules.ts'
import { clampLimit, fillPage, json, repoRevHeaders, resolveActor, type Route } from '../../../util.ts'

type Params = { actor: DidString; limit: number; cursor?: string }

const getActorLikesPipeline = createPipeline(
  (ctx, p: Params) => actorLikesPage(ctx.db, p.actor, p.limit, p.cursor),
  (ctx, sk: Page<FeedItem>, state) => hydrateFeedItems(ctx.db, sk.items, state),
  (sk, view) => ({ ...sk, items: sk.items.filter((i) => feedItemVisible(view.state, i, { dropMuted: false })) }),
  (sk, view) => ({
    feed: sk.items.map((i) => feedViewPost(view, i)).filter((f) => f !== undefined),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/**
 * The posts the viewer liked, most recent like first. Likes are only shown to
 * their author (as the reference: anyone else's, or an anonymous call, is
 * "Profile not found").
 */
export const getActorLikes: Route = (server, ctx) => {
  server.add(app.bsky.feed.getActorLikes, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const viewer = auth.credentials.iss
      const actor = await resolveActor(ctx, params.actor)
      if (!viewer || actor !== viewer) throw new InvalidRequestError('Profile not found')
      const body = await fillPage({
        limit: clampLimit(params.limit, 50, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => getActorLikesPipeline(ctx, { actor: viewer, limit, cursor }, { viewer }),
        items: (r) => r.feed,
      })
      return json(body, await repoRevHeaders(ctx, viewer))
    },
  })
}
