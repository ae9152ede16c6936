import { Document, Hashtag, LanguageString, Mention, Note, PUBLIC_COLLECTION, type Context } from '@fedify/fedify'
import { Temporal } from '@js-temporal/polyfill'
import type { BridgeStore } from '../store.ts'
import { parseRecordUri } from '../atproto/uri.ts'
import { blobImage, type BlobRef, type Profiles } from '../atproto/profiles.ts'
import { escapeHtml, textToHtml, type Facet } from './html.ts'

type PostRecord = {
  text?: string
  facets?: Facet[]
  langs?: string[]
  createdAt?: string
  reply?: { root?: { uri: string }; parent?: { uri: string } }
  embed?: {
    $type?: string
    images?: { image?: BlobRef; alt?: string }[]
    record?: { uri?: string; record?: { uri?: string } }
    media?: { images?: { image?: BlobRef; alt?: string }[] }
    external?: { uri?: string; title?: string }
  }
}

const POST = 'app.bsky.feed.post'

/** Where an atproto post is on the fediverse: our note URL for a bridged user's, the original for a mirrored one's. */
export const fediverseIdOf = async (ctx: Context<void>, store: BridgeStore, uri: string): Promise<URL | null> => {
  const mapped = await store.apIdOf(uri)
  if (mapped) return new URL(mapped.apId)
  const ref = parseRecordUri(uri)
  if (ref?.collection !== POST || !(await store.enabledUser(ref.did))) return null
  return ctx.getObjectUri(Note, { did: ref.did, rkey: ref.rkey })
}

/**
 * An app.bsky.feed.post as a Mastodon-compatible Note: HTML from the text
 * and facets (mentions of bridged accounts link their actors, hashtags,
 * links), images as attachments with their alt text (served by the
 * author's PDS), the reply as `inReplyTo`, a quote as a link, the language.
 */
export const noteOf = async (ctx: Context<void>, store: BridgeStore, profiles: Profiles, did: string, rkey: string, value: Record<string, unknown>): Promise<Note> => {
  const post = value as PostRecord
  const actor = ctx.getActorUri(did)
  const mentions: Mention[] = []
  const tags: Hashtag[] = []
  // a mentioned account links to its fediverse actor: ours when bridged, the original when mirrored
  const targets = new Map<string, string>()
  for (const f of post.facets ?? []) {
    const feature = f.features?.[0]
    if (feature?.$type !== 'app.bsky.richtext.facet#mention' || targets.has(feature.did)) continue
    const remote = await store.remoteActorOf(feature.did)
    if (remote) targets.set(feature.did, remote.uri)
    else if (await store.enabledUser(feature.did)) targets.set(feature.did, ctx.getActorUri(feature.did).href)
  }
  let html = textToHtml(post.text ?? '', post.facets, {
    mention: (mentioned) => targets.get(mentioned),
    tag: (tag) => new URL(`/tags/${encodeURIComponent(tag)}`, ctx.origin).href,
  })
  for (const f of post.facets ?? []) {
    const feature = f.features?.[0]
    if (feature?.$type === 'app.bsky.richtext.facet#mention' && targets.has(feature.did)) mentions.push(new Mention({ href: new URL(targets.get(feature.did)!) }))
    if (feature?.$type === 'app.bsky.richtext.facet#tag') {
      tags.push(new Hashtag({ href: new URL(`/tags/${encodeURIComponent(feature.tag)}`, ctx.origin), name: `#${feature.tag}` }))
    }
  }
  const embed = post.embed
  const quoted = embed?.record?.uri ?? embed?.record?.record?.uri
  if (quoted) {
    const target = await fediverseIdOf(ctx, store, quoted)
    const ref = parseRecordUri(quoted)
    const href = target?.href ?? (ref ? `https://bsky.app/profile/${ref.did}/post/${ref.rkey}` : quoted)
    html += `<p class="quote-inline">RE: <a href="${escapeHtml(href)}">${escapeHtml(href)}</a></p>`
  }
  if (embed?.external?.uri && /^https?:\/\//.test(embed.external.uri) && !html.includes(escapeHtml(embed.external.uri))) {
    html += `<p><a href="${escapeHtml(embed.external.uri)}">${escapeHtml(embed.external.title || embed.external.uri)}</a></p>`
  }
  const images = embed?.images ?? embed?.media?.images ?? []
  const pds = images.length ? await profiles.pdsOf(did) : undefined
  const attachments = images
    .map((img) => {
      const served = blobImage(pds, did, img.image)
      return served ? new Document({ mediaType: served.mimeType, url: new URL(served.url), name: img.alt || null }) : null
    })
    .filter((d): d is Document => d !== null)
  const lang = post.langs?.[0]
  const parent = post.reply?.parent?.uri ? await fediverseIdOf(ctx, store, post.reply.parent.uri) : null
  let published: Temporal.Instant | null = null
  try {
    published = post.createdAt ? Temporal.Instant.from(post.createdAt) : null
  } catch {
    published = null
  }
  return new Note({
    id: ctx.getObjectUri(Note, { did, rkey }),
    attribution: actor,
    to: PUBLIC_COLLECTION,
    cc: ctx.getFollowersUri(did),
    // content, and contentMap when the post names its language
    contents: lang ? [html, new LanguageString(html, lang)] : [html],
    replyTarget: parent,
    attachments,
    tags: [...mentions, ...tags],
    published,
    url: ctx.getObjectUri(Note, { did, rkey }),
  })
}
