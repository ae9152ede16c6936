import type { AtUriString, DidString } from '@atproto/syntax'
import type { AppViewDb } from '../db/index.ts'
import { inList } from '../db/sql.ts'
import type { ThreadSkeleton } from '../views/thread.ts'

/** Replies loaded for one thread, at most (deep or wide threads are cut, not refused). */
const MAX_THREAD_POSTS = 1_000

/** The anchor's ancestors (up to `parentHeight`) and its replies (up to `depth` levels), oldest reply first. */
export const threadSkeleton = async (db: AppViewDb, anchor: AtUriString, depth: number, parentHeight: number): Promise<ThreadSkeleton> => {
  const ancestors: AtUriString[] = []
  let current = anchor
  const seen = new Set<string>([anchor])
  while (ancestors.length < parentHeight) {
    const row = await db.kysely.selectFrom('post').select('replyParent').where('uri', '=', current).executeTakeFirst()
    const parent = row?.replyParent
    // an ancestor that is not indexed ends the chain (it is shown as not found)
    if (!parent || seen.has(parent)) break
    seen.add(parent)
    ancestors.push(parent)
    current = parent
  }
  const children = new Map<AtUriString, AtUriString[]>()
  let frontier: AtUriString[] = [anchor]
  let total = 0
  for (let level = 0; level < depth && frontier.length > 0 && total < MAX_THREAD_POSTS; level++) {
    const rows = await db.kysely
      .selectFrom('post')
      .select(['uri', 'replyParent'])
      .where('replyParent', 'in', inList(frontier))
      .orderBy('sortAt', 'asc')
      .orderBy('uri', 'asc')
      .limit(MAX_THREAD_POSTS - total)
      .execute()
    frontier = []
    for (const r of rows) {
      if (!r.replyParent || seen.has(r.uri)) continue
      seen.add(r.uri)
      const list = children.get(r.replyParent) ?? []
      list.push(r.uri)
      children.set(r.replyParent, list)
      frontier.push(r.uri)
      total++
    }
  }
  return { anchor, ancestors, children }
}

/** Follow and list relations between a thread's root author and reply authors (threadgate rules). */
export const threadgateRelations = async (
  db: AppViewDb,
  rootAuthor: DidString,
  authors: DidString[],
  lists: AtUriString[],
): Promise<{ followedByRoot: Set<DidString>; followingRoot: Set<DidString>; onLists: Set<DidString> }> => {
  if (authors.length === 0) return { followedByRoot: new Set(), followingRoot: new Set(), onLists: new Set() }
  const [byRoot, toRoot, listed] = await Promise.all([
    db.kysely.selectFrom('follow').select('subject as did').where('creator', '=', rootAuthor).where('subject', 'in', inList(authors)).execute(),
    db.kysely.selectFrom('follow').select('creator as did').where('subject', '=', rootAuthor).where('creator', 'in', inList(authors)).execute(),
    lists.length
      ? db.kysely.selectFrom('list_item').select('subject as did').where('listUri', 'in', inList(lists)).where('subject', 'in', inList(authors)).execute()
      : Promise.resolve([]),
  ])
  return {
    followedByRoot: new Set(byRoot.map((r) => r.did)),
    followingRoot: new Set(toRoot.map((r) => r.did)),
    onLists: new Set(listed.map((r) => r.did)),
  }
}
