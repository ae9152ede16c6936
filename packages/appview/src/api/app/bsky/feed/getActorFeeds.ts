import { app } from '@atsuite/lexicon'
import type { DidString } from '@atproto/syntax'
import { actorFeedsSkeleton, type ActorFeedsSkeleton } from '../../../../data/feed-generator.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { hydrateFeedGens } from '../../../../hydration/graph.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { generatorView } from '../../../../views/graph.ts'
import { clampLimit, hydrateCtx, json, resolveActor, type Route } from '../../../util.ts'

type Skeleton = ActorFeedsSkeleton & { actor: DidString }

const getActorFeedsPipeline = createPipeline(
  async (ctx, p: { actor: DidString; limit: number; cursor?: string }): Promise<Skeleton> => ({
    ...(await actorFeedsSkeleton(ctx.db, p.actor, p.limit, p.cursor)),
    actor: p.actor,
  }),
  async (ctx, sk: Skeleton, state) => {
    await hydrateProfiles(ctx.db, [sk.actor], state)
    await hydrateFeedGens(ctx.db, sk.uris, state)
  },
  // an inactive creator's generators fail generatorView; a blocked one's are not shown
  (sk, view) => (view.state.blockedWith(sk.actor) ? { actor: sk.actor, uris: [] } : sk),
  (sk, view) => ({
    feeds: sk.uris.map((u) => generatorView(view, u)).filter((g) => g !== undefined),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/** The feed generators an actor created, newest first. */
export const getActorFeeds: Route = (server, ctx) => {
  server.add(app.bsky.feed.getActorFeeds, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const actor = await resolveActor(ctx, params.actor)
      if (!actor) throw new InvalidRequestError('Profile not found')
      return json(await getActorFeedsPipeline(ctx, { actor, limit: clampLimit(params.limit, 50, 100), cursor: params.cursor }, hydrateCtx(auth)))
    },
  })
}
