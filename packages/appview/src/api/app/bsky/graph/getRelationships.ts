import { app } from '@atsuite/lexicon'
import type { AtIdentifierString, DidString } from '@atproto/syntax'
import { relationships, resolveActors } from '../../../../data/graph.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { hydrateActors } from '../../../../hydration/actor.ts'
import { createPipeline, noRules } from '../../../../pipeline.ts'
import { notFoundActor, relationshipView, type Relationship } from '../../../../views/graph.ts'
import { json, type Route } from '../../../util.ts'

type Params = { actor: AtIdentifierString; others: AtIdentifierString[] }
type Skeleton = { actor: DidString; others: { id: AtIdentifierString; did: DidString | undefined }[]; graph: Map<DidString, Relationship> }

const actorNotFound = (actor: string) => new InvalidRequestError(`Actor not found: ${actor}`, 'ActorNotFound')

const getRelationshipsPipeline = createPipeline(
  async (ctx, p: Params): Promise<Skeleton> => {
    const dids = await resolveActors(ctx.db, [p.actor, ...p.others])
    const actor = dids.get(p.actor)
    if (!actor) throw actorNotFound(p.actor)
    const others = p.others.map((id) => ({ id, did: dids.get(id) }))
    const graph = await relationships(ctx.db, actor, others.flatMap((o) => (o.did ? [o.did] : [])))
    return { actor, others, graph }
  },
  (ctx, sk: Skeleton, state) => hydrateActors(ctx.db, [sk.actor, ...sk.graph.keys()], state),
  noRules,
  (sk, view, p) => {
    if (!view.state.activeActor(sk.actor)) throw actorNotFound(p.actor)
    return {
      actor: sk.actor,
      relationships: sk.others.map(({ id, did }) => {
        const rel = did && view.state.activeActor(did) ? sk.graph.get(did) : undefined
        return did && rel ? relationshipView(did, rel) : notFoundActor(id)
      }),
    }
  },
)

/**
 * The public follow and block records between an account and up to 30 others
 * (no auth; mutes are private and not shown). Unknown or hidden others are
 * `notFoundActor`; an unknown or hidden primary account is `ActorNotFound`.
 */
export const getRelationships: Route = (server, ctx) => {
  server.add(app.bsky.graph.getRelationships, {
    handler: async ({ params }) =>
      json(await getRelationshipsPipeline(ctx, { actor: params.actor, others: params.others ?? [] }, { viewer: null })),
  })
}
