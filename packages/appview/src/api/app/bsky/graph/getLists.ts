import { app } from '@atsuite/lexicon'
import type { AtUriString, DidString } from '@atproto/syntax'
import { listsPage, type Page } from '../../../../data/graph.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { hydrateLists } from '../../../../hydration/graph.ts'
import { createPipeline, noRules } from '../../../../pipeline.ts'
import { listView } from '../../../../views/graph.ts'
import { clampLimit, fillPage, hydrateCtx, json, resolveActor, type Route } from '../../../util.ts'

type Params = { actor: DidString; purposes: string[]; limit: number; cursor?: string }

/** `purposes` as the lexicon names them (short or full), as stored; by default both (reference lists are not listed). */
const PURPOSES = new Map([
  ['modlist', 'app.bsky.graph.defs#modlist'],
  ['curatelist', 'app.bsky.graph.defs#curatelist'],
  ['app.bsky.graph.defs#modlist', 'app.bsky.graph.defs#modlist'],
  ['app.bsky.graph.defs#curatelist', 'app.bsky.graph.defs#curatelist'],
])

const storedPurposes = (asked: string[] | undefined): string[] => [
  ...new Set((asked ?? ['modlist', 'curatelist']).flatMap((p) => PURPOSES.get(p) ?? [])),
]

const getListsPipeline = createPipeline(
  (ctx, p: Params) => listsPage(ctx.db, p.actor, p.purposes, p.limit, p.cursor),
  (ctx, sk: Page<AtUriString>, state) => hydrateLists(ctx.db, sk.items, state),
  noRules,
  (sk, view) => ({
    lists: sk.items.map((uri) => listView(view, uri)).filter((v) => v !== undefined),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
  }),
)

/** An actor's lists, newest first, optionally of some purposes only. */
export const getLists: Route = (server, ctx) => {
  server.add(app.bsky.graph.getLists, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const actor = await resolveActor(ctx, params.actor)
      if (!actor) throw new InvalidRequestError('Profile not found')
      const hctx = hydrateCtx(auth)
      const purposes = storedPurposes(params.purposes)
      const body = await fillPage({
        limit: clampLimit(params.limit, 50, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => getListsPipeline(ctx, { actor, purposes, limit, cursor }, hctx),
        items: (r) => r.lists,
      })
      return json(body)
    },
  })
}
