import type { AtUriString, DidString } from '@atproto/syntax'
import type { app } from '@atsuite/lexicon'
import type { AppViewDb } from '../db/index.ts'
import { storedRecord, type HydrationState } from './state.ts'
import { earliestBy, missing } from './util.ts'
import { inList } from '../db/sql.ts'


/** Actor rows with their profile record (display name, avatar, …). */
export const hydrateActors = async (db: AppViewDb, dids: Iterable<DidString>, state: HydrationState): Promise<void> => {
  const todo = missing(dids, state.actors)
  if (todo.length === 0) return
  const rows = await db.kysely
    .selectFrom('actor')
    .leftJoin('profile', 'profile.did', 'actor.did')
    .leftJoin('record', 'record.uri', 'profile.uri')
    .select([
      'actor.did as did',
      'actor.handle as handle',
      'actor.status as status',
      'actor.indexedAt as indexedAt',
      'profile.uri as profileUri',
      'profile.cid as profileCid',
      'profile.indexedAt as profileIndexedAt',
      'record.json as profileJson',
    ])
    .where('actor.did', 'in', inList(todo))
    .execute()
  for (const did of todo) state.actors.set(did, null)
  for (const r of rows) {
    state.actors.set(r.did, {
      did: r.did,
      handle: r.handle,
      status: r.status,
      indexedAt: r.indexedAt,
      profile:
        r.profileUri && r.profileCid && r.profileJson && r.profileIndexedAt
          ? {
              uri: r.profileUri,
              cid: r.profileCid,
              record: storedRecord<app.bsky.actor.profile.Main>(r.profileJson),
              indexedAt: r.profileIndexedAt,
            }
          : null,
    })
  }
}

/** Follower/follow/post/list/feed counts (profile views that show them). */
export const hydrateActorCounts = async (db: AppViewDb, dids: Iterable<DidString>, state: HydrationState): Promise<void> => {
  const todo = missing(dids, state.actorCounts)
  if (todo.length === 0) return
  const rows = await db.kysely.selectFrom('actor_agg').selectAll().where('did', 'in', inList(todo)).execute()
  for (const did of todo) state.actorCounts.set(did, { followersCount: 0, followsCount: 0, postsCount: 0, listsCount: 0, feedgensCount: 0 })
  for (const r of rows) state.actorCounts.set(r.did, r)
}

/** The viewer's follows, blocks (both ways) and mutes towards each actor. */
export const hydrateActorViewers = async (db: AppViewDb, dids: Iterable<DidString>, state: HydrationState): Promise<void> => {
  const viewer = state.viewer
  const todo = missing(dids, state.actorViewers)
  if (!viewer || todo.length === 0) return
  const [following, followedBy, blocking, blockedBy, muted] = await Promise.all([
    db.kysely.selectFrom('follow').select(['subject as did', 'uri', 'sortAt']).where('creator', '=', viewer).where('subject', 'in', inList(todo)).execute(),
    db.kysely.selectFrom('follow').select(['creator as did', 'uri', 'sortAt']).where('subject', '=', viewer).where('creator', 'in', inList(todo)).execute(),
    db.kysely.selectFrom('block').select(['subject as did', 'uri', 'sortAt']).where('creator', '=', viewer).where('subject', 'in', inList(todo)).execute(),
    db.kysely.selectFrom('block').select(['creator as did']).where('subject', '=', viewer).where('creator', 'in', inList(todo)).execute(),
    db.kysely.selectFrom('mute').select(['subject as did']).where('muter', '=', viewer).where('subject', 'in', inList(todo)).execute(),
  ])
  const first = (rows: { did: DidString; uri: AtUriString; sortAt: string }[]) => {
    const m = new Map<DidString, AtUriString>()
    for (const [did, r] of earliestBy(rows, (r) => r.did)) m.set(did, r.uri)
    return m
  }
  const fo = first(following)
  const fb = first(followedBy)
  const bl = first(blocking)
  const bb = new Set(blockedBy.map((r) => r.did))
  const mu = new Set(muted.map((r) => r.did))
  for (const did of todo) {
    if (did === viewer) {
      state.actorViewers.set(did, { blockedBy: false, muted: false })
      continue
    }
    state.actorViewers.set(did, {
      following: fo.get(did),
      followedBy: fb.get(did),
      blocking: bl.get(did),
      blockedBy: bb.has(did),
      muted: mu.has(did),
    })
  }
}

/** Actor rows, counts (for detailed views) and viewer state in one go. */
export const hydrateProfiles = async (
  db: AppViewDb,
  dids: Iterable<DidString>,
  state: HydrationState,
  _opts: { counts?: boolean } = {},
): Promise<void> => {
  // counts are always loaded: every profile view carries `associated` (lists, feeds) the same way
  const list = [...dids]
  await Promise.all([hydrateActors(db, list, state), hydrateActorViewers(db, list, state), hydrateActorCounts(db, list, state)])
}
