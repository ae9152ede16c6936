import type { AtUriString, DidString } from '@atproto/syntax'
import { app } from '../lexicon/app.ts'
import type { AppContext } from '../context.ts'
import { readAfterWriteLogger as log } from '../logger.ts'

export type RecordEmbedView = app.bsky.embed.record.View['record']

/** getPosts and getFeedGenerators take at most this many at once. */
const BATCH = 25

/** The record a post embeds (a quote, a feed, a list), if any. */
export const embeddedUri = (post: app.bsky.feed.post.Main): AtUriString | null => {
  const e = post.embed
  if (!e) return null
  if (app.bsky.embed.record.$isTypeOf(e)) return e.record.uri
  if (app.bsky.embed.recordWithMedia.$isTypeOf(e)) return e.record.record.uri
  return null
}

const collectionOf = (uri: AtUriString): string | undefined => uri.split('/')[3]

const chunks = <T>(items: T[], size: number): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/**
 * Views of records the user's new posts embed, asked of the app view as the
 * user (so blocks and detached quotes apply to them): posts as viewRecord,
 * feed generators and lists as their views. What cannot be found is left out
 * (shown as not found); a failing app view only costs the embeds.
 */
export const embeddedRecordViews = async (ctx: AppContext, did: DidString, uris: AtUriString[]): Promise<Map<string, RecordEmbedView>> => {
  const views = new Map<string, RecordEmbedView>()
  const appView = ctx.pipethrough.appView
  if (!appView || uris.length === 0) return views
  const unique = [...new Set(uris)]
  const byCollection = (c: string) => unique.filter((u) => collectionOf(u) === c)
  const ask = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn()
    } catch (err) {
      log.info({ err, did, what }, 'could not look up an embedded record')
    }
  }
  const tasks: Promise<void>[] = []
  for (const batch of chunks(byCollection(app.bsky.feed.post.$type), BATCH)) {
    tasks.push(
      ask('posts', async () => {
        const res = app.bsky.feed.getPosts.$output.schema.safeValidate(await ctx.pipethrough.query(appView, 'app.bsky.feed.getPosts', { uris: batch }, did))
        if (!res.success) return
        for (const p of res.value.posts) {
          views.set(p.uri, {
            $type: 'app.bsky.embed.record#viewRecord',
            uri: p.uri,
            cid: p.cid,
            author: p.author,
            value: p.record,
            ...(p.labels ? { labels: p.labels } : {}),
            ...(p.likeCount !== undefined ? { likeCount: p.likeCount } : {}),
            ...(p.repostCount !== undefined ? { repostCount: p.repostCount } : {}),
            ...(p.replyCount !== undefined ? { replyCount: p.replyCount } : {}),
            ...(p.quoteCount !== undefined ? { quoteCount: p.quoteCount } : {}),
            ...(p.embed ? { embeds: [p.embed] } : {}),
            indexedAt: p.indexedAt,
          })
        }
      }),
    )
  }
  for (const batch of chunks(byCollection(app.bsky.feed.generator.$type), BATCH)) {
    tasks.push(
      ask('feed generators', async () => {
        const res = app.bsky.feed.getFeedGenerators.$output.schema.safeValidate(
          await ctx.pipethrough.query(appView, 'app.bsky.feed.getFeedGenerators', { feeds: batch }, did),
        )
        if (!res.success) return
        for (const g of res.value.feeds) views.set(g.uri, { ...g, $type: 'app.bsky.feed.defs#generatorView' })
      }),
    )
  }
  for (const uri of byCollection(app.bsky.graph.list.$type)) {
    tasks.push(
      ask('list', async () => {
        const res = app.bsky.graph.getList.$output.schema.safeValidate(await ctx.pipethrough.query(appView, 'app.bsky.graph.getList', { list: uri, limit: '1' }, did))
        if (res.success) views.set(uri, { ...res.value.list, $type: 'app.bsky.graph.defs#listView' })
      }),
    )
  }
  await Promise.all(tasks)
  return views
}
