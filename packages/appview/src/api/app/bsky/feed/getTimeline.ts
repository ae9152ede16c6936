import { app } from '@atsuite/lexicon'
import type { DidString } from '@atproto/syntax'
import { timelineSkeleton, type FeedSkeleton } from '../../../../data/feed.ts'
import { hydrateFeedItems } from '../../../../hydration/feed.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { feedViewPost } from '../../../../views/feed.ts'
import { feedItemVisible } from '../../../../views/rules.ts'
import { clampLimit, json, repoRevHeaders, type Route } from '../../../util.ts'

type Params = { viewer: DidString; limit?: number; cursor?: string }

const getTimelinePipeline = createPipeline(
  (ctx, p: Params) => timelineSkeleton(ctx.db, p.viewer, clampLimit(p.limit, 50, 100), p.cursor, ctx.cfg.timelineHeavyFollows),
  (ctx, sk: FeedSkeleton, state) => hydrateFeedItems(ctx.db, sk.items, state),
  (sk, view) => ({ ...sk, items: sk.items.filter((i) => feedItemVisible(view.state, i, { dropMuted: true })) }),
  (sk, view) => ({
    feed: sk.items.map((i) => feedViewPost(view, i)).filter((f) => f !== undefined),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/** Posts and reposts by the viewer's follows and the viewer, newest first. */
export const getTimeline: Route = (server, ctx) => {
  server.add(app.bsky.feed.getTimeline, {
    auth: ctx.auth.required,
    handler: async ({ params, auth }) => {
      const viewer = auth.credentials.iss
      const body = await getTimelinePipeline(ctx, { viewer, limit: params.limit, cursor: params.cursor }, { viewer })
      return json(body, await repoRevHeaders(ctx, viewer))
    },
  })
}
