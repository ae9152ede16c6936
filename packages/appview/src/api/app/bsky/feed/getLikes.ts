import { app } from '@atsuite/lexicon'
import type { AtUriString } from '@atproto/syntax'
import { likesPage } from '../../../../data/interactions.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { profileView } from '../../../../views/actor.ts'
import { clampLimit, fillPage, hydrateCtx, json, type Route } from '../../../util.ts'
import { hydrateInteractions, interactionRules, interactionSkeleton, type InteractionSkeleton } from './interaction-list.ts'

type Params = { uri: AtUriString; limit: number; cursor?: string }

const getLikesPipeline = createPipeline(
  async (ctx, p: Params) => interactionSkeleton(await likesPage(ctx.db, p.uri, p.limit, p.cursor), p.uri),
  (ctx, sk: InteractionSkeleton, state) => hydrateInteractions(ctx, sk, state),
  interactionRules,
  (sk, view) => ({
    likes: sk.items.flatMap((r) => {
      const actor = profileView(view, r.creator)
      // indexedAt is when the like sorts, as the reference shows it
      return actor ? [{ actor, createdAt: r.createdAt, indexedAt: r.sortAt }] : []
    }),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/** Who liked a record, most recent like first, one like per actor. */
export const getLikes: Route = (server, ctx) => {
  server.add(app.bsky.feed.getLikes, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const hctx = hydrateCtx(auth)
      const res = await fillPage({
        limit: clampLimit(params.limit, 50, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => getLikesPipeline(ctx, { uri: params.uri, limit, cursor }, hctx),
        items: (r) => r.likes,
      })
      return json({ uri: params.uri, ...(params.cid ? { cid: params.cid } : {}), ...res })
    },
  })
}
