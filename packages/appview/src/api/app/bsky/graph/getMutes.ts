import { app } from '@atsuite/lexicon'
import type { DidString } from '@atproto/syntax'
import { mutesPage, type Page } from '../../../../data/graph.ts'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { createPipeline, noRules } from '../../../../pipeline.ts'
import { profileView } from '../../../../views/actor.ts'
import { clampLimit, fillPage, json, type Route } from '../../../util.ts'

type Params = { viewer: DidString; limit: number; cursor?: string }

const getMutesPipeline = createPipeline(
  (ctx, p: Params) => mutesPage(ctx.db, p.viewer, p.limit, p.cursor),
  (ctx, sk: Page<DidString>, state) => hydrateProfiles(ctx.db, sk.items, state, { counts: true }),
  noRules,
  (sk, view) => ({
    mutes: sk.items.map((did) => profileView(view, did)).filter((v) => v !== undefined),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/** The accounts the viewer muted, newest mute first (hidden accounts left out). */
export const getMutes: Route = (server, ctx) => {
  server.add(app.bsky.graph.getMutes, {
    auth: ctx.auth.required,
    handler: async ({ params, auth }) => {
      const viewer = auth.credentials.iss
      const body = await fillPage({
        limit: clampLimit(params.limit, 50, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => getMutesPipeline(ctx, { viewer, limit, cursor }, { viewer }),
        items: (r) => r.mutes,
      })
      return json(body)
    },
  })
}
