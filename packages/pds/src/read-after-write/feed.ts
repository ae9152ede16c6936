import { app } from '../lexicon/app.ts'
import type { LocalPost, LocalRecords } from './local-records.ts'
import type { LocalViewer } from './local-viewer.ts'
import type { MungeFn } from './pipethrough.ts'

type FeedViewPost = app.bsky.feed.defs.FeedViewPost
type Feed = { feed: FeedViewPost[]; cursor?: string }

const itemTime = (item: FeedViewPost): string =>
  item.reason && app.bsky.feed.defs.reasonRepost.isTypeOf(item.reason) ? item.reason.indexedAt : item.post.indexedAt

/**
 * The user's new posts put into a page of a feed, each before the first item
 * older than it. A post older than the page's last item stays out unless the
 * page ends the feed (it belongs to a later page); a post the page already
 * has is not added twice.
 */
export const insertPosts = (viewer: LocalViewer, page: Feed, posts: LocalPost[]): FeedViewPost[] => {
  const present = new Set(page.feed.filter((i) => !i.reason).map((i) => i.post.uri))
  const last = page.feed.at(-1)
  const floor = page.cursor === undefined || !last ? '' : itemTime(last)
  const feed = [...page.feed]
  for (const post of posts) {
    if (present.has(post.uri) || post.indexedAt <= floor) continue
    const at = feed.findIndex((i) => itemTime(i) < post.indexedAt)
    feed.splice(at === -1 ? feed.length : at, 0, { post: viewer.postView(post) })
  }
  return feed
}

/** The user's own profile view in feed items (author, reposter) updated to their new profile record. */
const withProfile = (viewer: LocalViewer, feed: FeedViewPost[], local: LocalRecords): FeedViewPost[] => {
  if (!local.profile) return feed
  return feed.map((item) => {
    const post = item.post.author.did === viewer.did ? { ...item.post, author: viewer.updateBasic(item.post.author) } : item.post
    const reason =
      item.reason && app.bsky.feed.defs.reasonRepost.isTypeOf(item.reason) && item.reason.by.did === viewer.did
        ? { ...item.reason, by: viewer.updateBasic(item.reason.by) }
        : item.reason
    return { ...item, post, ...(reason ? { reason } : {}) }
  })
}

/** The timeline's first page gets the user's new posts; every page their new profile. */
export const mungeTimeline =
  (cursor: string | undefined): MungeFn<app.bsky.feed.getTimeline.$OutputBody> =>
  (viewer, body, local) => ({
    ...body,
    feed: withProfile(viewer, cursor === undefined ? insertPosts(viewer, body, local.posts) : body.feed, local),
  })

type AuthorFilter = app.bsky.feed.getAuthorFeed.$Params['filter']

const hasMedia = (post: LocalPost, kinds: ('images' | 'video')[]): boolean => {
  let e = post.record.embed
  if (e && app.bsky.embed.recordWithMedia.$isTypeOf(e)) e = e.media
  if (!e) return false
  return (kinds.includes('images') && app.bsky.embed.images.$isTypeOf(e)) || (kinds.includes('video') && app.bsky.embed.video.$isTypeOf(e))
}

/** Whether a new post belongs in the author feed under `filter` (the lexicon's filters). */
const inAuthorFeed = (viewer: LocalViewer, post: LocalPost, filter: AuthorFilter): boolean => {
  const reply = post.record.reply
  switch (filter) {
    case 'posts_no_replies':
      return !reply
    case 'posts_with_media':
      return hasMedia(post, ['images', 'video'])
    case 'posts_with_video':
      return hasMedia(post, ['video'])
    case 'posts_and_author_threads':
      return !reply || (reply.root.uri.startsWith(`at://${viewer.did}/`) && reply.parent.uri.startsWith(`at://${viewer.did}/`))
    default:
      return true
  }
}

/** The user's own author feed: their new posts (as the filter allows) on the first page, their new profile. */
export const mungeAuthorFeed =
  (params: app.bsky.feed.getAuthorFeed.$Params): MungeFn<app.bsky.feed.getAuthorFeed.$OutputBody> =>
  (viewer, body, local) => {
    if (!viewer.isSelf(params.actor)) return body
    const posts = params.cursor === undefined ? local.posts.filter((p) => inAuthorFeed(viewer, p, params.filter)) : []
    return { ...body, feed: withProfile(viewer, insertPosts(viewer, body, posts), local) }
  }
