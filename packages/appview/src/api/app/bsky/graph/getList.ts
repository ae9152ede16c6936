import { app } from '@atsuite/lexicon'
import type { AtUriString } from '@atproto/syntax'
import { listItemsPage, type ListItemRow, type Page } from '../../../../data/graph.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { hydrateBlockPairs, hydrateLists } from '../../../../hydration/graph.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { listItemView, listView } from '../../../../views/graph.ts'
import { clampLimit, fillPage, hydrateCtx, json, type Route } from '../../../util.ts'

type Params = { list: AtUriString; limit: number; cursor?: string }
type Skeleton = Page<ListItemRow> & { list: AtUriString }

const MODLIST = 'app.bsky.graph.defs#modlist'

const getListPipeline = createPipeline(
  async (ctx, p: Params): Promise<Skeleton> => ({ ...(await listItemsPage(ctx.db, p.list, p.limit, p.cursor)), list: p.list }),
  async (ctx, sk: Skeleton, state) => {
    await hydrateLists(ctx.db, [sk.list], state)
    const creator = state.lists.get(sk.list)?.creator
    const members = sk.items.map((i) => i.subject)
    await Promise.all([
      hydrateProfiles(ctx.db, members, state, { counts: true }),
      creator ? hydrateBlockPairs(ctx.db, creator, members, state) : Promise.resolve(),
    ])
  },
  (sk, view) => {
    // members blocked either way with the creator are left out of curation lists (a moderation
    // list is a list of people to block, so it keeps them; the creator sees their own list whole)
    const l = view.state.lists.get(sk.list)
    if (!l || l.record.purpose === MODLIST || l.creator === view.state.viewer) return sk
    return { ...sk, items: sk.items.filter((i) => !view.state.blockedBetween(l.creator, i.subject)) }
  },
  (sk, view) => {
    const list = listView(view, sk.list)
    if (!list) throw new InvalidRequestError('List not found')
    return {
      list,
      items: sk.items.map((i) => listItemView(view, i.uri, i.subject)).filter((v) => v !== undefined),
      ...(sk.cursor ? { cursor: sk.cursor } : {}),
    }
  },
)

/** A list and its members, newest member first. */
export const getList: Route = (server, ctx) => {
  server.add(app.bsky.graph.getList, {
    auth: ctx.auth.optional,
    handler: async ({ params, auth }) => {
      const hctx = hydrateCtx(auth)
      const body = await fillPage({
        limit: clampLimit(params.limit, 50, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => getListPipeline(ctx, { list: params.list, limit, cursor }, hctx),
        items: (r) => r.items,
      })
      return json(body)
    },
  })
}
