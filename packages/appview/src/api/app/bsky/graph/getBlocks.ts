import { app } from '@atsuite/lexicon'
import type { DidString } from '@atproto/syntax'
import { blocksPage, type Page } from '../../../../data/graph.ts'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { createPipeline, noRules } from '../../../../pipeline.ts'
import { profileView } from '../../../../views/actor.ts'
import { clampLimit, fillPage, json, type Route } from '../../../util.ts'

type Params = { viewer: DidString; limit: number; cursor?: string }

const getBlocksPipeline = createPipeline(
  async (ctx, p: Params): Promise<Page<DidString>> => {
    const page = await blocksPage(ctx.db, p.viewer, p.limit, p.cursor)
    return { items: page.items.map((b) => b.subject), cursor: page.cursor }
  },
  (ctx, sk: Page<DidString>, state) => hydrateProfiles(ctx.db, sk.items, state, { counts: true }),
  noRules,
  (sk, view) => ({
    blocks: sk.items.map((did) => profileView(view, did)).filter((v) => v !== undefined),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/** The accounts the viewer blocks, newest block first (hidden accounts left out). */
export const getBlocks: Route = (server, ctx) => {
  server.add(app.bsky.graph.getBlocks, {
    auth: ctx.auth.required,
    handler: async ({ params, auth }) => {
      const viewer = auth.credentials.iss
      const body = await fillPage({
        limit: clampLimit(params.limit, 50, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => getBlocksPipeline(ctx, { viewer, limit, cursor }, { viewer }),
        items: (r) => r.blocks,
      })
      return json(body)
    },
  })
}
