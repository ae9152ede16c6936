import type { DidString } from '@atproto/syntax'
import type { HydrationState } from '../hydration/state.ts'
import type { FeedItem } from './feed.ts'

/**
 * Whether a feed item may be shown to the viewer: its author, its reposter
 * and the authors it replies to are active and not blocked either way;
 * `muted` drops muted authors/reposters too (timelines, not author feeds).
 */
export const feedItemVisible = (state: HydrationState, item: FeedItem, opts: { dropMuted: boolean }): boolean => {
  const post = state.posts.get(item.postUri)
  if (!post || !state.activeActor(post.creator)) return false
  const people: DidString[] = [post.creator]
  if (item.repost) people.push(item.repost.by)
  const reply = post.record.reply
  for (const uri of reply ? [reply.parent.uri, reply.root.uri] : []) {
    const p = state.posts.get(uri)
    if (p) people.push(p.creator)
  }
  for (const did of people) {
    if (did === state.viewer) continue
    if (state.blockedWith(did)) return false
    if (opts.dropMuted && state.muted(did)) return false
  }
  return true
}
