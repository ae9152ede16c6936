import { randomUUID } from 'node:crypto'
import {
  Accept,
  Announce,
  Create,
  PUBLIC_COLLECTION,
  Delete,
  Endpoints,
  Follow,
  Like,
  Note,
  Person,
  Image,
  PropertyValue,
  Undo,
  createFederation,
  importJwk,
  isActor,
  type Actor,
  type Context,
  type Federation,
  type Recipient,
} from '@fedify/fedify'
import type { BridgeConfig } from './config.ts'
import type { BridgeStore } from './store.ts'
import type { AtprotoAccounts } from './atproto/accounts.ts'
import type { Profiles } from './atproto/profiles.ts'
import { escapeHtml, htmlToText, linkFacets, textToHtml, truncateGraphemes, type Facet } from './convert/html.ts'
import { noteOf } from './convert/note.ts'
import { SqliteKvStore } from './fedify/kv.ts'
import { parseRecordUri } from './atproto/uri.ts'
import type { QueueChannel, SqliteMessageQueue } from './fedify/queue.ts'
import { federationLogger as log } from './logger.ts'

export type FederationDeps = {
  cfg: BridgeConfig
  store: BridgeStore
  accounts: AtprotoAccounts
  profiles: Profiles
  kv: SqliteKvStore
  queues: Record<QueueChannel, SqliteMessageQueue>
}

export const POST_PATH = '/ap/posts/{did}/{rkey}'
/** how many recent posts the outbox shows */
const OUTBOX_SIZE = 20
/** how long one read of a user's latest posts serves the outbox (its items and its count) */
const OUTBOX_MEMO_MS = 2_000

/** The atproto record our note URL names, or undefined when it is not ours. */
export const ourPost = (ctx: Context<void>, url: URL | null): { did: string; rkey: string; uri: string } | undefined => {
  const parsed = ctx.parseUri(url)
  if (parsed?.type !== 'object' || parsed.class !== Note) return undefined
  const { did, rkey } = parsed.values
  return { did, rkey, uri: `at://${did}/app.bsky.feed.post/${rkey}` }
}

const actorAddress = (actor: Actor): string => {
  const host = actor.id?.host ?? 'unknown'
  return `${actor.preferredUsername?.toString() ?? actor.id?.pathname.split('/').pop() ?? 'someone'}@${host}`
}

/** A bridged user as a Person (null when bridging is off for them). */
export const personOf = async (ctx: Context<void>, deps: Pick<FederationDeps, 'store' | 'profiles'>, identifier: string): Promise<Person | null> => {
  const user = await deps.store.enabledUser(identifier)
  if (!user) return null
  const profile = await deps.profiles.get(identifier)
  const keys = await ctx.getActorKeyPairs(identifier)
  // profile fields as Mastodon shows them (PropertyValue attachments); `rel="me"` lets a site link back to verify
  const fields: PropertyValue[] = []
  if (profile.website) {
    const shown = profile.website.replace(/^https?:\/\//i, '').replace(/\/$/, '')
    fields.push(new PropertyValue({ name: 'Website', value: `<a href="${escapeHtml(profile.website)}" rel="me nofollow noopener" target="_blank">${escapeHtml(shown)}</a>` }))
  }
  if (profile.pronouns) fields.push(new PropertyValue({ name: 'Pronouns', value: escapeHtml(profile.pronouns) }))
  return new Person({
    id: ctx.getActorUri(identifier),
    preferredUsername: user.handle,
    name: profile.displayName ?? user.handle,
    // the description's bare URLs as links
    summary: profile.description ? textToHtml(profile.description, linkFacets(profile.description), { mention: () => undefined, tag: () => '' }) : null,
    attachments: fields,
    icon: profile.avatar ? new Image({ url: new URL(profile.avatar.url), mediaType: profile.avatar.mimeType }) : null,
    image: profile.banner ? new Image({ url: new URL(profile.banner.url), mediaType: profile.banner.mimeType }) : null,
    inbox: ctx.getInboxUri(identifier),
    endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
    followers: ctx.getFollowersUri(identifier),
    outbox: ctx.getOutboxUri(identifier),
    url: ctx.getActorUri(identifier),
    // alsoKnownAs: the atproto identity (a DID is a URI)
    aliases: [new URL(identifier)],
    publicKey: keys[0]?.cryptographicKey,
    assertionMethods: keys.map((k) => k.multikey),
    manuallyApprovesFollowers: false,
    discoverable: true,
  })
}

/**
 * Our users as ActivityPub actors (Fedify): WebFinger, Person documents with
 * an RSA key for HTTP Signatures, followers collections, notes by URL; and
 * the shared and personal inboxes where follows, replies, likes, boosts and
 * deletes from the fediverse arrive (signatures verified by Fedify, each
 * activity id processed once).
 */
export const createBridgeFederation = (deps: FederationDeps): Federation<void> => {
  const { cfg, store, accounts, profiles } = deps
  const federation = createFederation<void>({
    kv: deps.kv,
    queue: deps.queues,
    origin: cfg.publicUrl,
    allowPrivateAddress: cfg.allowPrivateAddress,
    manuallyStartQueue: true,
    userAgent: { software: `atsuite-bridge/${cfg.version}` },
    // Mastodon's HTTP Signatures (draft-cavage) first, rather than knocking with RFC 9421 and falling back
    firstKnock: 'draft-cavage-http-signatures-12',
  })

  federation
    .setActorDispatcher('/ap/users/{identifier}', (ctx, identifier) => personOf(ctx, deps, identifier))
    .setKeyPairsDispatcher(async (_ctx, identifier) => {
      const user = await store.user(identifier)
      if (!user) return []
      return [
        {
          privateKey: await importJwk(JSON.parse(user.privateKeyJwk), 'private'),
          publicKey: await importJwk(JSON.parse(user.publicKeyJwk), 'public'),
        },
      ]
    })
    // WebFinger: acct:<atproto handle>@<bridge host>
    .mapHandle(async (_ctx, username) => (await store.enabledUserByHandle(username.toLowerCase()))?.did ?? null)

  federation
    .setFollowersDispatcher('/ap/users/{identifier}/followers', async (_ctx, identifier) => {
      if (!(await store.enabledUser(identifier))) return null
      const rows = await store.followers(identifier)
      const items: Recipient[] = rows.map((r) => ({
        id: new URL(r.actorUri),
        inboxId: new URL(r.inbox),
        endpoints: { sharedInbox: r.sharedInbox ? new URL(r.sharedInbox) : null },
      }))
      return { items }
    })
    .setCounter(async (_ctx, identifier) => (await store.followers(identifier)).length)

  // a user's latest posts, read from their PDS once for the outbox's items and its count (Fedify asks for
  // both while answering one request)
  const recent = new Map<string, { at: number; posts: ReturnType<Profiles['listRecords']> }>()
  const latestPosts = (did: string): ReturnType<Profiles['listRecords']> => {
    const now = Date.now()
    for (const [k, v] of recent) if (now - v.at > OUTBOX_MEMO_MS) recent.delete(k)
    let hit = recent.get(did)
    if (!hit) {
      hit = { at: now, posts: profiles.listRecords(did, 'app.bsky.feed.post', OUTBOX_SIZE) }
      recent.set(did, hit)
    }
    return hit.posts
  }

  // the outbox: the latest posts as Create activities (what Mastodon shows of an account it just found)
  federation
    .setOutboxDispatcher('/ap/users/{identifier}/outbox', async (ctx, identifier) => {
      if (!(await store.enabledUser(identifier))) return null
      const posts = await latestPosts(identifier)
      const items = await Promise.all(
        posts.map(async (p) => {
          const rkey = p.uri.split('/').pop()!
          const note = await noteOf(ctx, store, profiles, identifier, rkey, p.value)
          return new Create({ id: new URL('#create', note.id!), actor: ctx.getActorUri(identifier), to: PUBLIC_COLLECTION, cc: ctx.getFollowersUri(identifier), object: note, published: note.published })
        }),
      )
      return { items }
    })
    .setCounter(async (_ctx, identifier) => ((await store.enabledUser(identifier)) ? (await latestPosts(identifier)).length : null))

  federation.setObjectDispatcher(Note, POST_PATH, async (ctx, { did, rkey }) => {
    if (!(await store.enabledUser(did))) return null
    const rec = await profiles.record(did, 'app.bsky.feed.post', rkey)
    if (!rec) return null
    return noteOf(ctx, store, profiles, did, rkey, rec.value)
  })

  federation
    .setInboxListeners('/ap/users/{identifier}/inbox', '/ap/inbox')
    .on(Follow, async (ctx, follow) => {
      const target = ctx.parseUri(follow.objectId)
      if (target?.type !== 'actor' || !follow.id) return
      const user = await store.enabledUser(target.identifier)
      if (!user) return
      const follower = await follow.getActor(ctx)
      if (!follower?.id || !follower.inboxId || !isActor(follower)) return
      const already = (await store.followers(user.did)).some((f) => f.actorUri === follower.id!.href)
      await store.addFollower(user.did, {
        actorUri: follower.id.href,
        inbox: follower.inboxId.href,
        sharedInbox: follower.endpoints?.sharedInbox?.href ?? null,
      })
      await ctx.sendActivity(
        { identifier: user.did },
        follower,
        new Accept({ id: new URL(`#accept-${randomUUID()}`, ctx.getActorUri(user.did)), actor: ctx.getActorUri(user.did), object: follow }),
      )
      // the follow shows in the network too: a follow record in the follower's mirror account
      if (!already) {
        const mirror = await accounts.mirror({ uri: follower.id.href, address: actorAddress(follower), name: follower.name?.toString() })
        const res = await mirror.agent.com.atproto.repo.createRecord({
          repo: mirror.did,
          collection: 'app.bsky.graph.follow',
          record: { $type: 'app.bsky.graph.follow', subject: user.did, createdAt: new Date().toISOString() },
        })
        await store.map({ apId: follow.id.href, atUri: res.data.uri, cid: res.data.cid, kind: 'follow', did: mirror.did })
      }
      log.info({ did: user.did, follower: follower.id.href }, 'followed from the fediverse')
    })
    .on(Undo, async (ctx, undo) => {
      const object = await undo.getObject(ctx)
      if (object instanceof Follow) {
        const target = ctx.parseUri(object.objectId)
        if (target?.type === 'actor' && undo.actorId) await store.removeFollower(target.identifier, undo.actorId.href)
        if (object.id) await deleteMapped(object.id.href)
        return
      }
      // an undone like or boost: the record the bridge wrote for it goes
      if (object?.id && (object instanceof Like || object instanceof Announce)) await deleteMapped(object.id.href)
    })
    .on(Accept, async () => {
      // our Follow of a fediverse actor was accepted: nothing to keep, their posts start arriving
    })
    .on(Create, async (ctx, create) => {
      const note = await create.getObject(ctx)
      if (!(note instanceof Note) || !note.id || !create.actorId) return
      if (await store.mapped(note.id.href)) return
      const parent = ourPost(ctx, note.replyTargetId) ?? (note.replyTargetId ? await store.mappedPost(note.replyTargetId.href) : undefined)
      const followed = await store.isFollowedByOurUsers(create.actorId.href)
      // a reply in one of our threads, or a post of someone our users follow
      if (!parent && !followed) return
      const author = await create.getActor(ctx)
      if (!author || !isActor(author) || !author.id) return
      const mirror = await accounts.mirror({ uri: author.id.href, address: actorAddress(author), name: author.name?.toString() })
      const html = note.content?.toString() ?? ''
      const parsed = htmlToText(html, (href) => {
        const ours = ctx.parseUri(new URL(href))
        return ours?.type === 'actor' ? ours.identifier : store.mirroredDidSync(href)
      })
      const text = truncateGraphemes(parsed.text || note.url?.toString() || '(no text)', 300)
      const facets = parsed.facets.filter((f: Facet) => f.index.byteEnd <= Buffer.byteLength(text, 'utf8'))
      let reply
      if (parent) {
        const parentRec = await store.strongRef(parent.uri)
        if (!parentRec) return
        reply = { root: parentRec.root ?? { uri: parent.uri, cid: parentRec.cid }, parent: { uri: parent.uri, cid: parentRec.cid } }
      }
      const res = await mirror.agent.com.atproto.repo.createRecord({
        repo: mirror.did,
        collection: 'app.bsky.feed.post',
        record: {
          $type: 'app.bsky.feed.post',
          text,
          facets: facets.length ? facets : undefined,
          reply,
          createdAt: new Date(note.published?.epochMilliseconds ?? Date.now()).toISOString(),
        },
      })
      await store.map({ apId: note.id.href, atUri: res.data.uri, cid: res.data.cid, kind: 'post', did: mirror.did })
      log.info({ note: note.id.href, uri: res.data.uri }, 'fediverse post bridged in')
    })
    .on(Like, (ctx, like) => subjectRecord(ctx, like, 'app.bsky.feed.like', 'like'))
    .on(Announce, (ctx, announce) => subjectRecord(ctx, announce, 'app.bsky.feed.repost', 'repost'))
    .on(Delete, async (_ctx, del) => {
      // only the author's own objects: the mapped record must be in that actor's mirror
      if (!del.objectId || !del.actorId) return
      const row = await store.mapped(del.objectId.href)
      const actor = row && (await store.remoteActorOf(row.did))
      if (!row || actor?.uri !== del.actorId.href) return
      await deleteMapped(del.objectId.href)
    })
    .onError((_ctx, err) => {
      log.warn({ err }, 'inbound activity failed')
    })

  /** A Like or Announce of one of our notes: a like or repost record of the actor's mirror. */
  const subjectRecord = async (ctx: Context<void>, activity: Like | Announce, collection: 'app.bsky.feed.like' | 'app.bsky.feed.repost', kind: 'like' | 'repost'): Promise<void> => {
    const post = ourPost(ctx, activity.objectId)
    if (!post || !activity.id || (await store.mapped(activity.id.href))) return
    const ref = await store.strongRef(post.uri)
    const actor = await activity.getActor(ctx)
    if (!ref || !actor?.id || !isActor(actor)) return
    const mirror = await accounts.mirror({ uri: actor.id.href, address: actorAddress(actor), name: actor.name?.toString() })
    const res = await mirror.agent.com.atproto.repo.createRecord({
      repo: mirror.did,
      collection,
      record: { $type: collection, subject: { uri: post.uri, cid: ref.cid }, createdAt: new Date().toISOString() },
    })
    await store.map({ apId: activity.id.href, atUri: res.data.uri, cid: res.data.cid, kind, did: mirror.did })
  }

  /** Deletes the record an inbound object became (in the mirror that wrote it). */
  const deleteMapped = async (apId: string): Promise<void> => {
    const row = await store.mapped(apId)
    if (!row) return
    const actor = await store.remoteActorOf(row.did)
    const ref = parseRecordUri(row.atUri)
    if (!actor || !ref) return
    const mirror = await accounts.mirror({ uri: actor.uri, address: actor.address })
    await mirror.agent.com.atproto.repo.deleteRecord({ repo: row.did, collection: ref.collection, rkey: ref.rkey })
    await store.unmap(apId)
  }

  return federation
}

export { ourPost as parseOurPost }
