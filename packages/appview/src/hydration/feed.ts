import type { AtUriString, DidString } from '@atproto/syntax'
import type { app } from '@atsuite/lexicon'
import type { AppViewDb } from '../db/index.ts'
import { hydrateProfiles } from './actor.ts'
import { hydrateFeedGens, hydrateLists } from './graph.ts'
import { storedRecord, type HydrationState } from './state.ts'
import { embeddedRecordUri } from '../views/embed.ts'
import { earliestBy, missing, viewerPairs } from './util.ts'
import { inList } from '../db/sql.ts'


const collectionOf = (uri: string): string => uri.split('/')[3] ?? ''

/** Post rows and records. */
const hydratePostRows = async (db: AppViewDb, uris: AtUriString[], state: HydrationState): Promise<void> => {
  const todo = missing(uris, state.posts)
  if (todo.length === 0) return
  const rows = await db.kysely
    .selectFrom('post')
    .innerJoin('record', 'record.uri', 'post.uri')
    .select(['post.uri as uri', 'post.cid as cid', 'post.creator as creator', 'post.indexedAt as indexedAt', 'post.sortAt as sortAt', 'record.json as json'])
    .where('post.uri', 'in', inList(todo))
    .execute()
  for (const uri of todo) state.posts.set(uri, null)
  for (const r of rows) {
    state.posts.set(r.uri, {
      uri: r.uri,
      cid: r.cid,
      creator: r.creator,
      record: storedRecord<app.bsky.feed.post.Main>(r.json),
      indexedAt: r.indexedAt,
      sortAt: r.sortAt,
    })
  }
}

/** Like/repost/reply/quote counts of posts, feed generators and lists. */
export const hydrateRecordCounts = async (db: AppViewDb, uris: Iterable<AtUriString>, state: HydrationState): Promise<void> => {
  const todo = missing(uris, state.recordCounts)
  if (todo.length === 0) return
  const rows = await db.kysely
    .selectFrom('record_agg')
    .select(['uri', 'likeCount', 'repostCount', 'replyCount', 'quoteCount'])
    .where('uri', 'in', inList(todo))
    .execute()
  for (const uri of todo) state.recordCounts.set(uri, { likeCount: 0, repostCount: 0, replyCount: 0, quoteCount: 0 })
  for (const r of rows) state.recordCounts.set(r.uri, r)
}

/** The viewer's like and repost of each post. */
const hydratePostViewers = async (db: AppViewDb, uris: AtUriString[], state: HydrationState): Promise<void> => {
  const viewer = state.viewer
  const todo = missing(uris, state.postViewers)
  if (!viewer || todo.length === 0) return
  const [likes, reposts] = await Promise.all([
    viewerPairs(db, 'like', viewer, todo),
    viewerPairs(db, 'repost', viewer, todo),
  ])
  for (const uri of todo) state.postViewers.set(uri, {})
  for (const [subject, l] of earliestBy(likes, (r) => r.subject)) state.postViewers.get(subject)!.like = l.uri
  for (const [subject, r] of earliestBy(reposts, (r) => r.subject)) state.postViewers.get(subject)!.repost = r.uri
}

/** Threadgates of thread roots and postgates of posts. */
const hydrateGates = async (db: AppViewDb, uris: AtUriString[], state: HydrationState): Promise<void> => {
  const todo = uris.filter((u) => !state.threadgates.has(u) && !state.postgates.has(u))
  if (todo.length === 0) return
  const rows = await db.kysely
    .selectFrom('gate')
    .innerJoin('record', 'record.uri', 'gate.uri')
    .select(['gate.postUri as postUri', 'gate.kind as kind', 'gate.uri as uri', 'gate.cid as cid', 'record.json as json'])
    .where('gate.postUri', 'in', inList(todo))
    .execute()
  for (const r of rows) {
    if (r.kind === 'threadgate') {
      state.threadgates.set(r.postUri, { uri: r.uri, cid: r.cid, record: storedRecord<app.bsky.feed.threadgate.Main>(r.json) })
    } else {
      state.postgates.set(r.postUri, { uri: r.uri, cid: r.cid, record: storedRecord<app.bsky.feed.postgate.Main>(r.json) })
    }
  }
}

/**
 * Posts ready for postView: rows, counts, viewer state, authors, gates, and
 * what they embed (quoted posts with their authors, feed generators, lists),
 * one level deep as the lexicon's embed views are.
 */
export const hydratePosts = async (
  db: AppViewDb,
  uris: Iterable<AtUriString>,
  state: HydrationState,
  depth = 0,
  /** more actors the caller will show (reposters…): loaded with the authors, in the same queries */
  alsoActors: Iterable<DidString> = [],
): Promise<void> => {
  const list = [...new Set(uris)]
  await hydratePostRows(db, list, state)
  const found = list.map((u) => state.posts.get(u)).filter((p) => !!p)
  const roots = found.map((p) => p.record.reply?.root.uri ?? p.uri)
  await Promise.all([
    hydrateRecordCounts(db, list, state),
    hydratePostViewers(db, list, state),
    hydrateGates(db, [...list, ...roots], state),
  ])
  const authors = new Set<DidString>([...found.map((p) => p.creator), ...alsoActors])
  const embedded = found.map((p) => embeddedRecordUri(p.record)).filter((u) => u !== null)
  if (depth < 1 && embedded.length > 0) {
    const posts = embedded.filter((u) => collectionOf(u) === 'app.bsky.feed.post')
    await Promise.all([
      hydratePosts(db, posts, state, depth + 1),
      hydrateFeedGens(db, embedded.filter((u) => collectionOf(u) === 'app.bsky.feed.generator'), state),
      hydrateLists(db, embedded.filter((u) => collectionOf(u) === 'app.bsky.graph.list'), state),
    ])
  }
  await hydrateProfiles(db, authors, state)
}

/** Feed items: their posts, reply parents and roots (and grandparent authors), reposters. */
export const hydrateFeedItems = async (
  db: AppViewDb,
  items: { postUri: AtUriString; repost?: { by: DidString } }[],
  state: HydrationState,
): Promise<void> => {
  await hydratePostRows(db, items.map((i) => i.postUri), state)
  const related: AtUriString[] = []
  for (const i of items) {
    const reply = state.posts.get(i.postUri)?.record.reply
    if (reply) related.push(reply.parent.uri, reply.root.uri)
  }
  await hydratePostRows(db, related, state)
  const grandparents: AtUriString[] = []
  for (const uri of related) {
    const gp = state.posts.get(uri)?.record.reply?.parent.uri
    if (gp) grandparents.push(gp)
  }
  await hydratePostRows(db, grandparents, state)
  const people = new Set<DidString>(items.flatMap((i) => (i.repost ? [i.repost.by] : [])))
  for (const uri of grandparents) {
    const p = state.posts.get(uri)
    if (p) people.add(p.creator)
  }
  await hydratePosts(db, [...items.map((i) => i.postUri), ...related], state, 0, people)
}
