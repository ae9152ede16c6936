import type { AtUriString, DidString } from '@atproto/syntax'
import { app } from '@atsuite/lexicon'
import { RecordRefusal, definePlugin, didOfUri, sortAtFor } from '../plugin.ts'

type Post = app.bsky.feed.post.Main

/** The record a post embeds (a quote), directly or beside media. */
export const quotedRecord = (post: Post): { uri: AtUriString; cid: string } | null => {
  const e = post.embed
  if (!e) return null
  if (app.bsky.embed.record.$isTypeOf(e)) return e.record
  if (app.bsky.embed.recordWithMedia.$isTypeOf(e)) return e.record.record
  return null
}

const mediaOf = (post: Post): { hasMedia: boolean; hasVideo: boolean } => {
  const e = post.embed
  const types = [e?.$type]
  if (e && app.bsky.embed.recordWithMedia.$isTypeOf(e)) types.push(e.media.$type)
  const hasVideo = types.includes('app.bsky.embed.video')
  const hasMedia = hasVideo || types.includes('app.bsky.embed.images') || types.includes('app.bsky.embed.gallery')
  return { hasMedia, hasVideo }
}

/** DIDs mentioned through facets, once each. */
export const mentionedDids = (post: Post): DidString[] => {
  const out = new Set<DidString>()
  for (const facet of post.facets ?? []) {
    for (const f of facet.features) {
      if (app.bsky.richtext.facet.mention.isTypeOf(f)) out.add(f.did)
    }
  }
  return [...out]
}

type PostRow = {
  cid: string
  creator: string
  replyRoot: string | null
  replyParent: string | null
  quoteUri: string | null
  sortAt: string
  json: string | null
}

/** Who a post notified: parent and root authors, the quoted author, the mentioned. */
const notifiedBy = (row: PostRow): string[] => {
  const out = [row.replyParent, row.replyRoot, row.quoteUri].map((u) => (u ? didOfUri(u) : null)).filter((d) => d !== null)
  const facets: unknown = row.json ? JSON.parse(row.json).facets : undefined
  if (Array.isArray(facets)) {
    for (const f of facets) {
      for (const feat of Array.isArray(f?.features) ? f.features : []) {
        if (feat?.$type === 'app.bsky.richtext.facet#mention' && typeof feat.did === 'string') out.push(feat.did)
      }
    }
  }
  return out
}

/**
 * app.bsky.feed.post: the post row, its feed item, full text, the author's
 * post count, the parent's reply count, the quoted record's quote count, and
 * notifications (reply → parent and root authors, mention, quote). The
 * recipients come from the URIs themselves, so a reply indexed before its
 * parent still notifies the parent's author.
 */
export const postPlugin = definePlugin<Post>({
  collection: 'app.bsky.feed.post',
  parse(value, uri) {
    const res = app.bsky.feed.post.main.safeValidate(value)
    if (!res.success) throw new RecordRefusal('invalid_record', res.reason.message)
    const post = res.value
    const quoted = quotedRecord(post)
    if (post.reply?.parent.uri === uri || post.reply?.root.uri === uri || quoted?.uri === uri) {
      throw new RecordRefusal('self_reference', `post ${uri} replies to or quotes itself`)
    }
    return post
  },
  insert(w, r) {
    const post = r.record
    const sortAt = sortAtFor(post.createdAt, r.indexedAt)
    const quoted = quotedRecord(post)
    const { hasMedia, hasVideo } = mediaOf(post)
    const inserted = w.run(
      `INSERT INTO post (uri, cid, creator, text, createdAt, indexedAt, sortAt, replyRoot, replyRootCid,
         replyParent, replyParentCid, quoteUri, quoteCid, hasMedia, hasVideo, langs)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uri) DO NOTHING`,
      r.uri,
      r.cid,
      r.did,
      post.text,
      post.createdAt,
      r.indexedAt,
      sortAt,
      post.reply?.root.uri ?? null,
      post.reply?.root.cid ?? null,
      post.reply?.parent.uri ?? null,
      post.reply?.parent.cid ?? null,
      quoted?.uri ?? null,
      quoted?.cid ?? null,
      hasMedia ? 1 : 0,
      hasVideo ? 1 : 0,
      post.langs?.length ? post.langs.join(',') : null,
    )
    if (inserted === 0) return
    w.run(
      'INSERT INTO feed_item (uri, postUri, originator, type, isReply, sortAt) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (uri) DO NOTHING',
      r.uri,
      r.uri,
      r.did,
      'post',
      post.reply ? 1 : 0,
      sortAt,
    )
    w.indexPostText(r.uri, [post.text, ...(post.tags ?? [])].join(' '))
    w.bumpActorAgg(r.did, 'postsCount', 1)
    const notified = new Set<string>()
    const notify = (recipient: DidString | null, reason: 'reply' | 'mention' | 'quote', reasonSubject: AtUriString | null) => {
      if (!recipient || notified.has(recipient)) return
      notified.add(recipient)
      w.notify({ recipient, author: r.did, recordUri: r.uri, recordCid: r.cid, reason, reasonSubject, sortAt })
    }
    if (post.reply) {
      w.bumpRecordAgg(post.reply.parent.uri, 'replyCount', 1)
      notify(didOfUri(post.reply.parent.uri), 'reply', post.reply.parent.uri)
      notify(didOfUri(post.reply.root.uri), 'reply', post.reply.root.uri)
    }
    if (quoted) {
      w.bumpRecordAgg(quoted.uri, 'quoteCount', 1)
      notify(didOfUri(quoted.uri), 'quote', quoted.uri)
    }
    for (const did of mentionedDids(post)) notify(did, 'mention', null)
  },
  delete(w, uri) {
    const row = w.get<PostRow>(
      `SELECT post.cid AS cid, creator, replyRoot, replyParent, quoteUri, sortAt, record.json AS json
       FROM post LEFT JOIN record ON record.uri = post.uri WHERE post.uri = ?`,
      uri,
    )
    if (!row) return
    w.unindexPostText(uri)
    w.run('DELETE FROM post WHERE uri = ?', uri)
    w.run('DELETE FROM feed_item WHERE uri = ?', uri)
    w.bumpActorAgg(row.creator, 'postsCount', -1)
    if (row.replyParent) w.bumpRecordAgg(row.replyParent, 'replyCount', -1)
    if (row.quoteUri) w.bumpRecordAgg(row.quoteUri, 'quoteCount', -1)
    w.deleteNotifications(uri, notifiedBy(row), row.sortAt)
  },
})
