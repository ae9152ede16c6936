import { app } from '@atsuite/lexicon'
import type { AtUriString } from '@atproto/syntax'
import { servableFeedGen } from '../../../../data/feed-generator.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { FeedGenError } from '../../../../feedgen/client.ts'
import { hydrateFeedGens } from '../../../../hydration/graph.ts'
import { createPipeline, noRules } from '../../../../pipeline.ts'
import { generatorView } from '../../../../views/graph.ts'
import { hydrateCtx, json, type Route } from '../../../util.ts'

type Skeleton = { uri: AtUriString; isOnline: boolean; isValid: boolean }

const getFeedGeneratorPipeline = createPipeline(
  async (ctx, p: { feed: AtUriString }, hctx): Promise<Skeleton> => {
    const gen = await servableFeedGen(ctx.db, p.feed, hctx.viewer)
    if (!gen) throw new InvalidRequestError('could not find feed')
    // valid: the generator DID names a feed generator service; online: that service answers
    const isValid = await ctx.feedGens.endpoint(gen.feedDid).then(
      () => true,
      (err: unknown) => {
        if (err instanceof FeedGenError) return false
        throw err
      },
    )
    return { uri: gen.uri, isValid, isOnline: isValid && (await ctx.feedGens.isOnline(gen.feedDid)) }
  },
  (ctx, sk: Skeleton, state) => hydrateFeedGens(ctx.db, [sk.uri], state),
  noRules,
  (sk, view) => {
    const gen = generatorView(view, sk.uri)
    if (!gen) throw new InvalidRequestError('could not find feed')
    return { view: gen, isOnline: sk.isOnline, isValid: sk.isValid }
  },
)

/** One feed generator's view, with whether its DID document names a generator service and whether that answers. */
export const getFeedGenerator: Route = (server, ctx) => {
  server.add(app.bsky.feed.getFeedGenerator, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => json(await getFeedGeneratorPipeline(ctx, params, hydrateCtx(auth))),
  })
}
