import type { AtUriString, DidString } from '@atproto/syntax'
import type { app } from '@atsuite/lexicon'
import type { AppViewDb } from '../db/index.ts'
import { hydrateProfiles } from './actor.ts'
import { blockPairKey, storedRecord, type HydrationState } from './state.ts'
import { missing, viewerPairs } from './util.ts'
import { inList } from '../db/sql.ts'


/** Feed generator records, their like counts, the viewer's likes, and their creators. */
export const hydrateFeedGens = async (db: AppViewDb, uris: Iterable<AtUriString>, state: HydrationState): Promise<void> => {
  const todo = missing(uris, state.feedGens)
  if (todo.length === 0) return
  const rows = await db.kysely
    .selectFrom('feed_generator')
    .innerJoin('record', 'record.uri', 'feed_generator.uri')
    .leftJoin('record_agg', 'record_agg.uri', 'feed_generator.uri')
    .select([
      'feed_generator.uri as uri',
      'feed_generator.cid as cid',
      'feed_generator.creator as creator',
      'feed_generator.feedDid as feedDid',
      'feed_generator.indexedAt as indexedAt',
      'record.json as json',
      'record_agg.likeCount as likeCount',
    ])
    .where('feed_generator.uri', 'in', inList(todo))
    .execute()
  for (const uri of todo) state.feedGens.set(uri, null)
  for (const r of rows) {
    state.feedGens.set(r.uri, {
      uri: r.uri,
      cid: r.cid,
      creator: r.creator,
      feedDid: r.feedDid,
      record: storedRecord<app.bsky.feed.generator.Main>(r.json),
      indexedAt: r.indexedAt,
    })
    state.recordCounts.set(r.uri, { likeCount: r.likeCount ?? 0, repostCount: 0, replyCount: 0, quoteCount: 0 })
  }
  await hydrateRecordLikes(db, todo, state)
  await hydrateProfiles(db, rows.map((r) => r.creator), state)
}

/** The viewer's likes of feed generators (and other non-post records). */
const hydrateRecordLikes = async (db: AppViewDb, uris: AtUriString[], state: HydrationState): Promise<void> => {
  const viewer = state.viewer
  if (!viewer || uris.length === 0) return
  const likes = await viewerPairs(db, 'like', viewer, uris)
  for (const l of likes) if (!state.recordViewerLikes.has(l.subject)) state.recordViewerLikes.set(l.subject, l.uri)
}

/** List records with member counts and their creators. */
export const hydrateLists = async (db: AppViewDb, uris: Iterable<AtUriString>, state: HydrationState): Promise<void> => {
  const todo = missing(uris, state.lists)
  if (todo.length === 0) return
  const rows = await db.kysely
    .selectFrom('list')
    .innerJoin('record', 'record.uri', 'list.uri')
    .select((eb) => [
      'list.uri as uri',
      'list.cid as cid',
      'list.creator as creator',
      'list.indexedAt as indexedAt',
      'record.json as json',
      eb.selectFrom('list_item').select((e) => e.fn.countAll<number>().as('n')).whereRef('list_item.listUri', '=', 'list.uri').as('itemCount'),
    ])
    .where('list.uri', 'in', inList(todo))
    .execute()
  for (const uri of todo) state.lists.set(uri, null)
  const creators = new Set<DidString>()
  for (const r of rows) {
    creators.add(r.creator)
    state.lists.set(r.uri, {
      uri: r.uri,
      cid: r.cid,
      creator: r.creator,
      record: storedRecord<app.bsky.graph.list.Main>(r.json),
      indexedAt: r.indexedAt,
      itemCount: Number(r.itemCount ?? 0),
    })
  }
  await hydrateProfiles(db, creators, state)
}

/**
 * Blocks either way between `anchor` and each of `others` (a post's author and
 * its likers, a list's creator and its members, …), into `state.blockPairs`.
 * Blocks involving the viewer are `actorViewers`' business.
 */
export const hydrateBlockPairs = async (db: AppViewDb, anchor: DidString, others: Iterable<DidString>, state: HydrationState): Promise<void> => {
  const todo = [...new Set(others)].filter((d) => d !== anchor)
  if (todo.length === 0) return
  const [by, of] = await Promise.all([
    db.kysely.selectFrom('block').select('subject as did').where('creator', '=', anchor).where('subject', 'in', inList(todo)).execute(),
    db.kysely.selectFrom('block').select('creator as did').where('subject', '=', anchor).where('creator', 'in', inList(todo)).execute(),
  ])
  for (const r of [...by, ...of]) state.blockPairs.add(blockPairKey(anchor, r.did))
}
