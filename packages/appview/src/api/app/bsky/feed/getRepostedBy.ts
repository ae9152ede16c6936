import { app } from '@atsuite/lexicon'
import type { AtUriString } from '@atproto/syntax'
import { repostsPage } from '../../../../data/interactions.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { profileView } from '../../../../views/actor.ts'
import { clampLimit, fillPage, hydrateCtx, json, type Route } from '../../../util.ts'
import { hydrateInteractions, interactionRules, interactionSkeleton, type InteractionSkeleton } from './interaction-list.ts'

type Params = { uri: AtUriString; limit: number; cursor?: string }

const getRepostedByPipeline = createPipeline(
  async (ctx, p: Params) => interactionSkeleton(await repostsPage(ctx.db, p.uri, p.limit, p.cursor), p.uri),
  (ctx, sk: InteractionSkeleton, state) => hydrateInteractions(ctx, sk, state),
  interactionRules,
  (sk, view) => ({
    repostedBy: sk.items.map((r) => profileView(view, r.creator)).filter((v) => v !== undefined),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/** Who reposted a post, most recent repost first, once per actor. */
export const getRepostedBy: Route = (server, ctx) => {
  server.add(app.bsky.feed.getRepostedBy, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const hctx = hydrateCtx(auth)
      const res = await fillPage({
        limit: clampLimit(params.limit, 50, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => getRepostedByPipeline(ctx, { uri: params.uri, limit, cursor }, hctx),
        items: (r) => r.repostedBy,
      })
      return json({ uri: params.uri, ...(params.cid ? { cid: params.cid } : {}), ...res })
    },
  })
}
