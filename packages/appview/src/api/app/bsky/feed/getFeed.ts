import { UpstreamFailureError } from '@atproto/xrpc-server'
import { app } from '@atsuite/lexicon'
import type { AtUriString } from '@atproto/syntax'
import { repostsByUri, servableFeedGen } from '../../../../data/feed-generator.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { FeedGenError, authorizationFor, type SkeletonItem } from '../../../../feedgen/client.ts'
import { hydrateFeedItems } from '../../../../hydration/feed.ts'
import { feedGenLogger as log } from '../../../../logger.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { feedViewPost, type FeedItem } from '../../../../views/feed.ts'
import { feedItemVisible } from '../../../../views/rules.ts'
import { clampLimit, json, repoRevHeaders, type Route } from '../../../util.ts'

type Params = { feed: AtUriString; limit: number; cursor?: string; authorization?: string }
type Item = FeedItem & { pin?: true; feedContext?: string }
type Skeleton = { items: Item[]; cursor?: string; reqId?: string }

const { skeletonReasonRepost, skeletonReasonPin } = app.bsky.feed.defs

const getFeedPipeline = createPipeline(
  async (ctx, p: Params, hctx): Promise<Skeleton> => {
    const gen = await servableFeedGen(ctx.db, p.feed, hctx.viewer)
    if (!gen) throw new InvalidRequestError(`could not find feed: ${p.feed}`, 'UnknownFeed')
    const page = await ctx.feedGens.skeleton(
      gen.feedDid,
      { feed: p.feed, limit: p.limit, ...(p.cursor !== undefined ? { cursor: p.cursor } : {}) },
      authorizationFor(p.authorization, gen.feedDid),
    )
    const raw: SkeletonItem[] = page.items.slice(0, p.limit)
    const reposts = await repostsByUri(
      ctx.db,
      raw.flatMap((i) => (i.reason && skeletonReasonRepost.isTypeOf(i.reason) ? [i.reason.repost] : [])),
    )
    const items: Item[] = []
    for (const i of raw) {
      const base: Item = { postUri: i.post, ...(i.feedContext !== undefined ? { feedContext: i.feedContext } : {}) }
      if (i.reason && skeletonReasonRepost.isTypeOf(i.reason)) {
        // a repost reason must name a repost of this very post
        const r = reposts.get(i.reason.repost)
        if (r?.subject === i.post) items.push({ ...base, repost: { uri: r.uri, cid: r.cid, by: r.creator, indexedAt: r.indexedAt } })
      } else if (i.reason && skeletonReasonPin.isTypeOf(i.reason)) {
        items.push({ ...base, pin: true })
      } else {
        items.push(base)
      }
    }
    return { items, ...(page.cursor !== undefined ? { cursor: page.cursor } : {}), ...(page.reqId ? { reqId: page.reqId } : {}) }
  },
  (ctx, sk: Skeleton, state) => hydrateFeedItems(ctx.db, sk.items, state),
  (sk, view) => ({ ...sk, items: sk.items.filter((i) => feedItemVisible(view.state, i, { dropMuted: true })) }),
  (sk, view) => ({
    feed: sk.items.flatMap((i) => {
      const post = feedViewPost(view, i)
      if (!post) return []
      return [
        {
          ...post,
          ...(i.pin ? { reason: { $type: 'app.bsky.feed.defs#reasonPin' as const } } : {}),
          ...(i.feedContext !== undefined ? { feedContext: i.feedContext } : {}),
          ...(sk.reqId ? { reqId: sk.reqId } : {}),
        },
      ]
    }),
    ...(sk.cursor !== undefined ? { cursor: sk.cursor } : {}),
  }),
)

/** A generator's refusal or failure as the client should see it; anything else unchanged. */
const asXrpcError = (err: unknown, feed: AtUriString): unknown => {
  if (!(err instanceof FeedGenError)) return err
  if (err.reason === 'unknown_feed') return new InvalidRequestError(err.message, 'UnknownFeed')
  log.info({ feed, reason: err.reason, err: err.cause ?? err.message }, 'feed generator failed')
  return new UpstreamFailureError(err.reason === 'timeout' ? 'feed generator timed out' : `feed unavailable: ${err.message}`)
}

/**
 * A custom feed: the feed record → its generator DID → the `#bsky_fg`
 * service of that DID's document → getFeedSkeleton there (with the viewer's
 * token when it was minted for that generator), then hydrated like a
 * timeline, dropping what the viewer may not see (blocks either way, mutes,
 * hidden accounts). The generator's cursor is passed through untouched.
 */
export const getFeed: Route = (server, ctx) => {
  server.add(app.bsky.feed.getFeed, {
    auth: ctx.auth.feed,
    handler: async ({ params, auth, req }) => {
      const viewer = auth.credentials.iss
      const p: Params = {
        feed: params.feed,
        limit: clampLimit(params.limit, 50, 100),
        ...(params.cursor !== undefined ? { cursor: params.cursor } : {}),
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      }
      try {
        return json(await getFeedPipeline(ctx, p, { viewer }), await repoRevHeaders(ctx, viewer))
      } catch (err) {
        throw asXrpcError(err, params.feed)
      }
    },
  })
}
