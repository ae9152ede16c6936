import { blobCidOf } from './blob.ts'
import type { AtIdentifierString, AtUriString, DidString } from '@atproto/syntax'
import type { app } from '@atsuite/lexicon'
import type { $Typed } from '@atproto/lex-schema'
import { profileView } from './actor.ts'
import type { ViewCtx } from './context.ts'

/** A feed generator record as generatorView; undefined when unknown or its creator is hidden. */
export const generatorView = (ctx: ViewCtx, uri: AtUriString): $Typed<app.bsky.feed.defs.GeneratorView> | undefined => {
  const g = ctx.state.feedGens.get(uri)
  if (!g) return undefined
  const creator = profileView(ctx, g.creator)
  if (!creator) return undefined
  const r = g.record
  const avatar = blobCidOf(r.avatar)
  const like = ctx.state.recordViewerLikes.get(uri)
  return {
    $type: 'app.bsky.feed.defs#generatorView',
    uri,
    cid: g.cid,
    did: g.feedDid,
    creator,
    displayName: r.displayName,
    ...(r.description !== undefined ? { description: r.description } : {}),
    ...(r.descriptionFacets ? { descriptionFacets: r.descriptionFacets } : {}),
    ...(avatar ? { avatar: ctx.imageUrl('avatar', g.creator, avatar) } : {}),
    likeCount: ctx.state.recordCounts.get(uri)?.likeCount ?? 0,
    ...(r.acceptsInteractions !== undefined ? { acceptsInteractions: r.acceptsInteractions } : {}),
    ...(r.contentMode !== undefined ? { contentMode: r.contentMode } : {}),
    labels: [],
    ...(ctx.state.viewer ? { viewer: like ? { like } : {} } : {}),
    indexedAt: g.indexedAt,
  }
}

export const listViewBasic = (ctx: ViewCtx, uri: AtUriString): $Typed<app.bsky.graph.defs.ListViewBasic> | undefined => {
  const l = ctx.state.lists.get(uri)
  if (!l || !ctx.state.activeActor(l.creator)) return undefined
  const avatar = blobCidOf(l.record.avatar)
  return {
    $type: 'app.bsky.graph.defs#listViewBasic',
    uri,
    cid: l.cid,
    name: l.record.name,
    purpose: l.record.purpose,
    ...(avatar ? { avatar: ctx.imageUrl('avatar', l.creator, avatar) } : {}),
    listItemCount: l.itemCount,
    labels: [],
    ...(ctx.state.viewer ? { viewer: { muted: false } } : {}),
    indexedAt: l.indexedAt,
  }
}

export const listView = (ctx: ViewCtx, uri: AtUriString): $Typed<app.bsky.graph.defs.ListView> | undefined => {
  const l = ctx.state.lists.get(uri)
  const basic = listViewBasic(ctx, uri)
  const creator = l ? profileView(ctx, l.creator) : undefined
  if (!l || !basic || !creator) return undefined
  return {
    ...basic,
    $type: 'app.bsky.graph.defs#listView',
    creator,
    ...(l.record.description !== undefined ? { description: l.record.description } : {}),
    ...(l.record.descriptionFacets ? { descriptionFacets: l.record.descriptionFacets } : {}),
    indexedAt: l.indexedAt,
  }
}

/** A list member as listItemView; undefined when the member's account is hidden or unknown. */
export const listItemView = (ctx: ViewCtx, uri: AtUriString, subject: DidString): $Typed<app.bsky.graph.defs.ListItemView> | undefined => {
  const profile = profileView(ctx, subject)
  return profile ? { $type: 'app.bsky.graph.defs#listItemView', uri, subject: profile } : undefined
}

/** The public graph between one account and another: follow and block records either way. */
export type Relationship = { following?: AtUriString; followedBy?: AtUriString; blocking?: AtUriString; blockedBy?: AtUriString }

export const relationshipView = (did: DidString, r: Relationship): $Typed<app.bsky.graph.defs.Relationship> => ({
  $type: 'app.bsky.graph.defs#relationship',
  did,
  ...(r.following ? { following: r.following } : {}),
  ...(r.followedBy ? { followedBy: r.followedBy } : {}),
  ...(r.blocking ? { blocking: r.blocking } : {}),
  ...(r.blockedBy ? { blockedBy: r.blockedBy } : {}),
})

export const notFoundActor = (actor: AtIdentifierString): $Typed<app.bsky.graph.defs.NotFoundActor> => ({
  $type: 'app.bsky.graph.defs#notFoundActor',
  actor,
  notFound: true,
})
