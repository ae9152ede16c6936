import type { LexMap } from '@atproto/lex-data'
import type { AtUriString, DidString } from '@atproto/syntax'
import type { AppViewDb } from '../db/index.ts'
import { hydrateProfiles } from './actor.ts'
import { hydratePosts } from './feed.ts'
import { storedRecord, type HydrationState } from './state.ts'
import { missing } from './util.ts'


/** Stored records by URI, as written (any collection). */
export const hydrateRecords = async (db: AppViewDb, uris: Iterable<AtUriString>, state: HydrationState): Promise<void> => {
  const todo = missing(uris, state.records)
  if (todo.length === 0) return
  const rows = await db.kysely.selectFrom('record').select(['uri', 'cid', 'json']).where('uri', 'in', todo).execute()
  for (const uri of todo) state.records.set(uri, null)
  for (const r of rows) state.records.set(r.uri, { uri: r.uri, cid: r.cid, record: storedRecord<LexMap>(r.json) })
}

/**
 * What notifications show and their rules read: the records that caused
 * them, their authors with counts and the viewer's state, and the posts among
 * them (replies: the threadgate of their root, whose hidden replies are not
 * notified).
 */
export const hydrateNotifications = async (
  db: AppViewDb,
  items: { author: DidString; recordUri: AtUriString }[],
  state: HydrationState,
): Promise<void> => {
  const uris = items.map((n) => n.recordUri)
  await Promise.all([hydrateRecords(db, uris, state), hydrateProfiles(db, items.map((n) => n.author), state, { counts: true })])
  await hydratePosts(db, uris.filter((u) => u.includes('/app.bsky.feed.post/')), state)
}
