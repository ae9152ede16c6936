import type { DidString } from '@atproto/syntax'
import { followersPage, followsPage, type EdgeRow, type Page } from '../../../../data/graph.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { hydrateProfiles } from '../../../../hydration/actor.ts'
import { hydrateBlockPairs } from '../../../../hydration/graph.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { profileView } from '../../../../views/actor.ts'

type Params = { actor: DidString; limit: number; cursor?: string }
type Skeleton = Page<EdgeRow> & { subject: DidString }

/**
 * getFollows (`follows`: whom the actor follows) and getFollowers
 * (`followers`: who follows the actor), newest follow first. Left out: the
 * accounts blocked either way with the viewer or with the actor, and hidden
 * accounts; the actor hidden is "not found".
 */
export const followListPipeline = (direction: 'follows' | 'followers') => {
  const other = (e: EdgeRow): DidString => (direction === 'follows' ? e.subject : e.creator)
  const page = direction === 'follows' ? followsPage : followersPage
  return createPipeline(
    async (ctx, p: Params): Promise<Skeleton> => ({ ...(await page(ctx.db, p.actor, p.limit, p.cursor)), subject: p.actor }),
    async (ctx, sk: Skeleton, state) => {
      const others = sk.items.map(other)
      await Promise.all([
        hydrateProfiles(ctx.db, [sk.subject, ...others], state, { counts: true }),
        hydrateBlockPairs(ctx.db, sk.subject, others, state),
      ])
    },
    (sk, view) => ({
      ...sk,
      items: sk.items.filter((e) => !view.state.blockedWith(other(e)) && !view.state.blockedBetween(sk.subject, other(e))),
    }),
    (sk, view) => {
      const subject = profileView(view, sk.subject)
      if (!subject) throw new InvalidRequestError(`Actor not found: ${sk.subject}`)
      return {
        subject,
        profiles: sk.items.map((e) => profileView(view, other(e))).filter((v) => v !== undefined),
        ...(sk.cursor ? { cursor: sk.cursor } : {}),
      }
    },
  )
}
