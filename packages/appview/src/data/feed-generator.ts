import { isAtUriString, type AtUriString, type DatetimeString, type DidString } from '@atproto/syntax'
import type { AppViewDb } from '../db/index.ts'
import { whereUris } from '../db/pair-tables.ts'
import { decodeCursor, encodeCursor } from './cursor.ts'

export type FeedGenRow = { uri: AtUriString; creator: DidString; feedDid: DidString }

/**
 * The feed generator record at `uri`, when it may be served to `viewer`: its
 * creator is active and there is no block between them either way.
 */
export const servableFeedGen = async (db: AppViewDb, uri: AtUriString, viewer: DidString | null): Promise<FeedGenRow | undefined> => {
  let q = db.kysely
    .selectFrom('feed_generator')
    .innerJoin('actor', 'actor.did', 'feed_generator.creator')
    .select(['feed_generator.uri as uri', 'feed_generator.creator as creator', 'feed_generator.feedDid as feedDid'])
    .where('feed_generator.uri', '=', uri)
    .where('actor.status', 'is', null)
  if (viewer) {
    q = q.where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('block')
            .select('block.uri')
            .where((b) =>
              b.or([
                b.and([b('block.creator', '=', viewer), b('block.subject', '=', b.ref('feed_generator.creator'))]),
                b.and([b('block.creator', '=', b.ref('feed_generator.creator')), b('block.subject', '=', viewer)]),
              ]),
            ),
        ),
      ),
    )
  }
  return q.executeTakeFirst()
}

export type ActorFeedsSkeleton = { uris: AtUriString[]; cursor?: string }

const isUriKey = (k: string): k is AtUriString => isAtUriString(k)

/** An actor's feed generators, newest first (keyset on sortAt, uri). */
export const actorFeedsSkeleton = async (db: AppViewDb, actor: DidString, limit: number, cursor?: string): Promise<ActorFeedsSkeleton> => {
  const ks = decodeCursor(cursor, isUriKey)
  let q = db.kysely.selectFrom('feed_generator').select(['uri', 'sortAt']).where('creator', '=', actor)
  if (ks) q = q.where((eb) => eb.or([eb('sortAt', '<', ks.sortAt), eb.and([eb('sortAt', '=', ks.sortAt), eb('uri', '<', ks.key)])]))
  const rows = await q.orderBy('sortAt', 'desc').orderBy('uri', 'desc').limit(limit).execute()
  const last = rows.at(-1)
  return { uris: rows.map((r) => r.uri), ...(last && rows.length === limit ? { cursor: encodeCursor(last.sortAt, last.uri) } : {}) }
}

export type RepostRow = { uri: AtUriString; cid: string; creator: DidString; subject: AtUriString; indexedAt: DatetimeString }

/** Reposts by URI (the `reason` of a generator's skeleton items). */
export const repostsByUri = async (db: AppViewDb, uris: AtUriString[]): Promise<Map<AtUriString, RepostRow>> => {
  if (uris.length === 0) return new Map()
  const rows = await db.kysely
    .selectFrom('repost')
    .select(['uri', 'cid', 'creator', 'subject', 'indexedAt'])
    .where(whereUris(uris))
    .execute()
  return new Map(rows.map((r) => [r.uri, r]))
}
