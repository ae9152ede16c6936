import type { LexMap } from '@atproto/lex-data'
import type { AtUriString, DidString } from '@atproto/syntax'
import type { AppViewDb } from '../db/index.ts'
import { hydrateProfiles } from './actor.ts'
import { hydratePosts } from './feed.ts'
import { storedRecord, type HydrationState } from './state.ts'
import { missing } from './util.ts'
import { inList } from '../db/sql.ts'
import { expandPairJson, isPairTable, isSubjectIdTable, whereUris, type OwnTable } from '../db/pair-tables.ts'
import { sql } from 'kysely'


/** Where each collection's records are kept (see indexer plugins' `table`); the rest are in `record`. */
const OWN_TABLE = new Map<string, OwnTable>([
  ['app.bsky.feed.like', 'like'],
  ['app.bsky.feed.repost', 'repost'],
  ['app.bsky.graph.follow', 'follow'],
  ['app.bsky.graph.block', 'block'],
  ['app.bsky.graph.listitem', 'list_item'],
])

const tableOf = (uri: string) => OWN_TABLE.get(uri.split('/')[3] ?? '') ?? 'record'

/** Stored records by URI, as written (any collection), from whichever table keeps them. */
export const hydrateRecords = async (db: AppViewDb, uris: Iterable<AtUriString>, state: HydrationState): Promise<void> => {
  const todo = missing(uris, state.records)
  if (todo.length === 0) return
  for (const uri of todo) state.records.set(uri, null)
  const byTable = Map.groupBy(todo, tableOf)
  for (const [table, list] of byTable) {
    if (isPairTable(table)) {
      const rows = await db.kysely
        .selectFrom(table)
        .select(['uri', 'cid', 'json', 'subject', 'createdAt', isSubjectIdTable(table) ? 'subjectCid' : sql<null>`NULL`.as('subjectCid')])
        .where(whereUris(list))
        .execute()
      for (const r of rows) state.records.set(r.uri, { uri: r.uri, cid: r.cid, record: storedRecord<LexMap>(expandPairJson(table, r.json, r)) })
      continue
    }
    const rows = await db.kysely.selectFrom(table).select(['uri', 'cid', 'json']).where('uri', 'in', inList(list)).execute()
    for (const r of rows) {
      // a refused record's row in `record` has no content
      if (table === 'record' && r.json === '{}') continue
      state.records.set(r.uri, { uri: r.uri, cid: r.cid, record: storedRecord<LexMap>(r.json) })
    }
  }
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
