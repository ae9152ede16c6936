import { blobCidOf } from './blob.ts'
import type { DidString } from '@atproto/syntax'
import type { app } from '@atsuite/lexicon'
import type { ProfileState } from '../hydration/state.ts'
import type { ViewCtx } from './context.ts'

const INVALID_HANDLE = 'handle.invalid'

/** The viewer's relationship to `did` (undefined without a viewer). */
export const actorViewerState = (ctx: ViewCtx, did: DidString): app.bsky.actor.defs.ViewerState | undefined => {
  const v = ctx.state.actorViewers.get(did)
  if (!v) return undefined
  return {
    muted: v.muted,
    blockedBy: v.blockedBy,
    ...(v.blocking ? { blocking: v.blocking } : {}),
    // while blocked either way, follow relations are not shown (as the reference does)
    ...(v.following && !v.blocking && !v.blockedBy ? { following: v.following } : {}),
    ...(v.followedBy && !v.blocking && !v.blockedBy ? { followedBy: v.followedBy } : {}),
  }
}

const avatarOf = (ctx: ViewCtx, a: ProfileState) => {
  const cid = blobCidOf(a.profile?.record.avatar)
  return cid ? ctx.imageUrl('avatar', a.did, cid) : undefined
}

const associated = (ctx: ViewCtx, did: DidString): app.bsky.actor.defs.ProfileAssociated | undefined => {
  const c = ctx.state.actorCounts.get(did)
  return c ? { lists: c.listsCount, feedgens: c.feedgensCount, starterPacks: 0, labeler: false } : undefined
}

/** A known, active actor as profileViewBasic; undefined when hidden or unknown. */
export const profileViewBasic = (ctx: ViewCtx, did: DidString): app.bsky.actor.defs.ProfileViewBasic | undefined => {
  const a = ctx.state.activeActor(did)
  if (!a) return undefined
  const p = a.profile?.record
  return {
    $type: 'app.bsky.actor.defs#profileViewBasic',
    did: a.did,
    handle: a.handle ?? INVALID_HANDLE,
    ...(p?.displayName !== undefined ? { displayName: p.displayName } : {}),
    ...(p?.pronouns !== undefined ? { pronouns: p.pronouns } : {}),
    ...(avatarOf(ctx, a) ? { avatar: avatarOf(ctx, a) } : {}),
    ...(associated(ctx, did) ? { associated: associated(ctx, did) } : {}),
    ...(actorViewerState(ctx, did) ? { viewer: actorViewerState(ctx, did) } : {}),
    labels: [],
    createdAt: p?.createdAt ?? a.indexedAt,
  }
}

export const profileView = (ctx: ViewCtx, did: DidString): app.bsky.actor.defs.ProfileView | undefined => {
  const basic = profileViewBasic(ctx, did)
  const a = ctx.state.activeActor(did)
  if (!basic || !a) return undefined
  const p = a.profile?.record
  return {
    ...basic,
    $type: 'app.bsky.actor.defs#profileView',
    ...(p?.description !== undefined ? { description: p.description } : {}),
    indexedAt: a.profile?.indexedAt ?? a.indexedAt,
  }
}

export const profileViewDetailed = (ctx: ViewCtx, did: DidString): app.bsky.actor.defs.ProfileViewDetailed | undefined => {
  const view = profileView(ctx, did)
  const a = ctx.state.activeActor(did)
  if (!view || !a) return undefined
  const p = a.profile?.record
  const counts = ctx.state.actorCounts.get(did)
  const banner = blobCidOf(p?.banner)
  return {
    ...view,
    $type: 'app.bsky.actor.defs#profileViewDetailed',
    ...(banner ? { banner: ctx.imageUrl('banner', did, banner) } : {}),
    ...(p?.website !== undefined ? { website: p.website } : {}),
    followersCount: counts?.followersCount ?? 0,
    followsCount: counts?.followsCount ?? 0,
    postsCount: counts?.postsCount ?? 0,
    ...(p?.pinnedPost ? { pinnedPost: p.pinnedPost } : {}),
  }
}
