import { isValidDid, type DidString } from '@atproto/syntax'
import type { AppViewDb } from '../db/index.ts'
import { InvalidRequestError } from '../errors.ts'

export type SuggestionSkeleton = { dids: DidString[]; cursor?: string }

const decode = (cursor: string | undefined): { followers: number; did: DidString } | undefined => {
  if (cursor === undefined || cursor === '') return undefined
  const sep = cursor.indexOf('::')
  const followers = sep > 0 ? Number(cursor.slice(0, sep)) : NaN
  const did = cursor.slice(sep + 2)
  if (!Number.isSafeInteger(followers) || followers < 0 || !isValidDid(did)) throw new InvalidRequestError('Malformed cursor')
  return { followers, did }
}

/**
 * Accounts to follow: active accounts with a verified handle, most-followed
 * first (keyset on followersCount, did: a count that moves between pages can
 * move an account across the cursor, as in any popularity list). For a
 * viewer: not themselves, nobody they follow, block either way, or mute.
 */
export const suggestionsSkeleton = async (db: AppViewDb, viewer: DidString | null, limit: number, cursor?: string): Promise<SuggestionSkeleton> => {
  const ks = decode(cursor)
  let q = db.kysely
    .selectFrom('actor_agg')
    .innerJoin('actor', 'actor.did', 'actor_agg.did')
    .select(['actor_agg.did as did', 'actor_agg.followersCount as followers'])
    .where('actor.status', 'is', null)
    .where('actor.handle', 'is not', null)
  if (viewer) {
    q = q
      .where('actor_agg.did', '!=', viewer)
      .where('actor_agg.did', 'not in', (eb) => eb.selectFrom('follow').select('subject').where('creator', '=', viewer))
      .where('actor_agg.did', 'not in', (eb) => eb.selectFrom('block').select('subject').where('creator', '=', viewer))
      .where('actor_agg.did', 'not in', (eb) => eb.selectFrom('block').select('creator').where('subject', '=', viewer))
      .where('actor_agg.did', 'not in', (eb) => eb.selectFrom('mute').select('subject').where('muter', '=', viewer))
  }
  if (ks) {
    q = q.where((eb) =>
      eb.or([
        eb('actor_agg.followersCount', '<', ks.followers),
        eb.and([eb('actor_agg.followersCount', '=', ks.followers), eb('actor_agg.did', '<', ks.did)]),
      ]),
    )
  }
  const rows = await q.orderBy('actor_agg.followersCount', 'desc').orderBy('actor_agg.did', 'desc').limit(limit).execute()
  const last = rows.at(-1)
  return { dids: rows.map((r) => r.did), ...(last && rows.length === limit ? { cursor: `${last.followers}::${last.did}` } : {}) }
}
