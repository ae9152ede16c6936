import type { AtUriString, DidString } from '@atproto/syntax'
import type { AppContext } from '../../../../context.ts'
import type { InteractionRow } from '../../../../data/interactions.ts'
import type { Page } from '../../../../data/graph.ts'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { hydrateBlockPairs } from '../../../../hydration/graph.ts'
import type { HydrationState } from '../../../../hydration/state.ts'
import { didOfUri } from '../../../../indexer/plugin.ts'
import type { ViewCtx } from '../../../../views/context.ts'

/** Likes or reposts of one subject, with the subject's author (null when its URI names none). */
export type InteractionSkeleton = Page<InteractionRow> & { subject: AtUriString; author: DidString | null }

export const interactionSkeleton = (page: Page<InteractionRow>, subject: AtUriString): InteractionSkeleton => ({
  ...page,
  subject,
  author: didOfUri(subject),
})

/** The actors with counts and the viewer's state, and blocks between them and the subject's author. */
export const hydrateInteractions = async (ctx: AppContext, sk: InteractionSkeleton, state: HydrationState): Promise<void> => {
  const actors = sk.items.map((r) => r.creator)
  await Promise.all([
    hydrateProfiles(ctx.db, actors, state, { counts: true }),
    sk.author ? hydrateBlockPairs(ctx.db, sk.author, actors, state) : Promise.resolve(),
  ])
}

/** Left out: actors blocked either way with the viewer or with the subject's author. */
export const interactionRules = (sk: InteractionSkeleton, view: ViewCtx): InteractionSkeleton => ({
  ...sk,
  items: sk.items.filter((r) => !view.state.blockedWith(r.creator) && !(sk.author && view.state.blockedBetween(sk.author, r.creator))),
})
