import { Firehose, type Event } from '@atproto/sync'
import { Announce, Block, Create, Delete, Follow, Like, Note, PUBLIC_COLLECTION, Tombstone, Undo, Update, isActor, type Context, type Federation } from '@fedify/fedify'
import type { BridgeConfig } from '../config.ts'
import type { BridgeStore } from '../store.ts'
import type { AtprotoAccounts } from './accounts.ts'
import type { Profiles } from './profiles.ts'
import type { HandleDomains } from '../webfinger.ts'
import { fediverseIdOf, noteOf } from '../convert/note.ts'
import { personOf } from '../federation.ts'
import { OrderedRunner } from './runner.ts'
import { parseRecordUri } from './uri.ts'
import { streamLogger as log } from '../logger.ts'

const COLLECTIONS = [
  'app.bsky.feed.post',
  'app.bsky.feed.like',
  'app.bsky.feed.repost',
  'app.bsky.graph.follow',
  'app.bsky.graph.block',
  'app.bsky.actor.profile',
]
const CURSOR = 'firehose'

type Subject = { uri?: string; cid?: string }

/**
 * The bridge's view of the network: the relay's firehose (verified by
 * `@atproto/sync`), one DID's events in order. A follow of the bridge's
 * account turns bridging on for its author, unfollowing (or blocking) turns
 * it off; a bridged user's posts, deletes, profile edits, reposts, likes of
 * fediverse posts and follows of fediverse actors become activities, handed
 * to Fedify's durable queue. The cursor is kept only past handled events.
 */
export class BridgeStream {
  private readonly cfg: BridgeConfig
  private readonly store: BridgeStore
  private readonly accounts: AtprotoAccounts
  private readonly profiles: Profiles
  private readonly federation: Federation<void>
  private readonly domains: HandleDomains
  private firehose: Firehose | null = null
  private runner: OrderedRunner | null = null
  private bridgeDid = ''
  private readonly listeners = new Set<() => void>()

  constructor(deps: { cfg: BridgeConfig; store: BridgeStore; accounts: AtprotoAccounts; profiles: Profiles; federation: Federation<void>; domains: HandleDomains }) {
    this.cfg = deps.cfg
    this.store = deps.store
    this.accounts = deps.accounts
    this.profiles = deps.profiles
    this.federation = deps.federation
    this.domains = deps.domains
  }

  private get ctx(): Context<void> {
    return this.federation.createContext(new URL(this.cfg.publicUrl), undefined)
  }

  /** The last firehose seq handled. */
  get cursor(): number | undefined {
    return this.runner?.getCursor()
  }

  /** Calls `fn` after each handled event (tests wait on it). */
  onProgress(fn: () => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  async start(): Promise<void> {
    this.bridgeDid = (await this.accounts.bridgeAccount()).did
    const stored = this.store.cursor(CURSOR)
    this.runner = new OrderedRunner({
      startCursor: stored ?? (this.cfg.streamStart === 'oldest' ? 0 : undefined),
      setCursor: (seq) => {
        this.store.setCursor(CURSOR, seq)
        for (const fn of this.listeners) fn()
      },
      onError: (err, seq) => log.warn({ err, seq }, 'firehose event failed'),
    })
    this.firehose = new Firehose({
      service: this.cfg.repoStreamUrl.replace(/^http/, 'ws'),
      idResolver: this.profiles.idResolver,
      runner: this.runner,
      filterCollections: COLLECTIONS,
      maxReconnectSeconds: 5,
      handleEvent: (evt) => this.handle(evt),
      onError: (err) => log.warn({ err }, 'firehose event failed'),
    })
    void this.firehose.start()
  }

  async destroy(): Promise<void> {
    await this.firehose?.destroy()
    await this.runner?.destroy()
  }

  private async handle(evt: Event): Promise<void> {
    if (evt.event === 'identity') {
      // a new handle, PDS or key: read the DID document afresh next time
      await this.profiles.idResolver.did.cache?.clearEntry(evt.did)
      const user = evt.handle ? await this.store.user(evt.did) : undefined
      if (evt.handle && user && user.handle !== evt.handle) {
        await this.store.setHandle(evt.did, evt.handle)
        // does the new handle's domain delegate WebFinger to us? (answered in the background)
        if (user.enabled) void this.domains.check({ did: evt.did, handle: evt.handle }).catch(() => undefined)
      }
      return
    }
    if (evt.event === 'account') {
      // a deleted or taken-down account stops being bridged
      if (!evt.active && (evt.status === 'deleted' || evt.status === 'takendown') && (await this.store.enabledUser(evt.did))) await this.optOut(evt.did)
      return
    }
    if (evt.event !== 'create' && evt.event !== 'update' && evt.event !== 'delete') return
    const uri = evt.uri.toString()
    const { did, collection, rkey } = evt
    const record = evt.event === 'delete' ? undefined : (evt.record as Record<string, unknown>)

    // opting in and out: a follow (or block) of the bridge's own account
    if (collection === 'app.bsky.graph.follow' && evt.event === 'create' && record?.subject === this.bridgeDid) {
      const handle = (await this.profiles.handleOf(did)) ?? did
      await this.store.enable(did, handle, uri)
      void this.domains.check({ did, handle }).catch(() => undefined)
      log.info({ did, handle }, 'bridging turned on')
      return
    }
    const user = await this.store.enabledUser(did)
    if (!user) return
    if ((collection === 'app.bsky.graph.follow' && evt.event === 'delete' && user.optInUri === uri) || (collection === 'app.bsky.graph.block' && record?.subject === this.bridgeDid)) {
      await this.optOut(did)
      return
    }
    const ctx = this.ctx
    const sender = { identifier: did }
    const toFollowers = { preferSharedInbox: true } as const
    switch (collection) {
      case 'app.bsky.feed.post': {
        const noteId = ctx.getObjectUri(Note, { did, rkey })
        if (evt.event === 'delete') {
          await ctx.sendActivity(sender, 'followers', new Delete({ id: new URL(`#delete`, noteId), actor: ctx.getActorUri(did), to: PUBLIC_COLLECTION, object: new Tombstone({ id: noteId }) }), toFollowers)
          return
        }
        if (evt.event !== 'create') return
        const note = await noteOf(ctx, this.store, this.profiles, did, rkey, record!)
        const activity = new Create({ id: new URL('#create', noteId), actor: ctx.getActorUri(did), to: PUBLIC_COLLECTION, cc: ctx.getFollowersUri(did), object: note, published: note.published })
        await ctx.sendActivity(sender, 'followers', activity, toFollowers)
        // a reply to a fediverse post also goes to that post's author
        const parentUri = (record?.reply as { parent?: Subject } | undefined)?.parent?.uri
        const parent = parentUri ? parseRecordUri(parentUri) : undefined
        const parentAuthor = parent ? await this.store.remoteActorOf(parent.did) : undefined
        if (parentAuthor) await this.sendToActor(ctx, did, parentAuthor.uri, activity)
        return
      }
      case 'app.bsky.actor.profile': {
        this.profiles.invalidate(did)
        const actor = await personOf(ctx, { store: this.store, profiles: this.profiles }, did)
        if (actor) await ctx.sendActivity(sender, 'followers', new Update({ id: new URL(`#update-${evt.rev}`, actor.id!), actor: actor.id, to: PUBLIC_COLLECTION, object: actor }), toFollowers)
        return
      }
      case 'app.bsky.feed.repost': {
        if (evt.event === 'delete') {
          await ctx.sendActivity(sender, 'followers', new Undo({ id: new URL(`/ap/reposts/${encodeURIComponent(uri)}#undo`, ctx.origin), actor: ctx.getActorUri(did), object: new URL(`/ap/reposts/${encodeURIComponent(uri)}`, ctx.origin) }), toFollowers)
          return
        }
        const target = await fediverseIdOf(ctx, this.store, (record?.subject as Subject | undefined)?.uri ?? '')
        if (!target) return
        const announce = new Announce({ id: new URL(`/ap/reposts/${encodeURIComponent(uri)}`, ctx.origin), actor: ctx.getActorUri(did), object: target, to: PUBLIC_COLLECTION, cc: ctx.getFollowersUri(did) })
        await ctx.sendActivity(sender, 'followers', announce, toFollowers)
        return
      }
      case 'app.bsky.feed.like': {
        if (evt.event !== 'create') return
        const subject = (record?.subject as Subject | undefined)?.uri ?? ''
        const mapped = await this.store.apIdOf(subject)
        if (!mapped) return
        const author = await this.store.remoteActorOf(mapped.did)
        if (!author) return
        await this.sendToActor(ctx, did, author.uri, new Like({ id: new URL(`/ap/likes/${encodeURIComponent(uri)}`, ctx.origin), actor: ctx.getActorUri(did), object: new URL(mapped.apId) }))
        return
      }
      case 'app.bsky.graph.block': {
        // blocking a mirrored fediverse account: it stops following and gets nothing more
        const subjectDid = evt.event === 'create' ? (record?.subject as string | undefined) : undefined
        const actor = subjectDid ? await this.store.remoteActorOf(subjectDid) : undefined
        if (!actor) return
        await this.store.removeFollower(did, actor.uri)
        await this.sendToActor(ctx, did, actor.uri, new Block({ id: new URL(`/ap/blocks/${encodeURIComponent(uri)}`, ctx.origin), actor: ctx.getActorUri(did), object: new URL(actor.uri) }))
        return
      }
      case 'app.bsky.graph.follow': {
        if (evt.event === 'delete') {
          const following = await this.store.takeFollowing(uri)
          if (following) {
            const follow = new Follow({ id: new URL(following.activityId), actor: ctx.getActorUri(did), object: new URL(following.actorUri) })
            await this.sendToActor(ctx, did, following.actorUri, new Undo({ id: new URL(`#undo`, following.activityId), actor: ctx.getActorUri(did), object: follow }))
          }
          return
        }
        const subjectDid = record?.subject as string | undefined
        const actor = subjectDid ? await this.store.remoteActorOf(subjectDid) : undefined
        if (!actor || evt.event !== 'create') return
        const activityId = new URL(`/ap/follows/${encodeURIComponent(uri)}`, ctx.origin)
        await this.store.addFollowing({ recordUri: uri, did, actorUri: actor.uri, activityId: activityId.href })
        await this.sendToActor(ctx, did, actor.uri, new Follow({ id: activityId, actor: ctx.getActorUri(did), object: new URL(actor.uri) }))
        return
      }
    }
  }

  /** One activity to one fediverse actor (its inbox from its actor document). */
  private async sendToActor(ctx: Context<void>, did: string, actorUri: string, activity: Create | Like | Follow | Undo | Block): Promise<void> {
    const actor = await ctx.lookupObject(actorUri).catch(() => null)
    if (!actor || !isActor(actor) || !actor.id || !actor.inboxId) {
      log.warn({ actorUri }, 'fediverse actor could not be fetched; activity not sent')
      return
    }
    await ctx.sendActivity({ identifier: did }, actor, activity, { preferSharedInbox: true })
  }

  /** Bridging off: the actor is deleted on the fediverse and its followers forgotten. */
  private async optOut(did: string): Promise<void> {
    const ctx = this.ctx
    const actorUri = ctx.getActorUri(did)
    // one Delete per opt-out (the opt-in record names it): opting in and out again is a new activity
    const optIn = (await this.store.user(did))?.optInUri
    const id = new URL(`#delete-${optIn ? (parseRecordUri(optIn)?.rkey ?? '') : ''}`, actorUri)
    await ctx.sendActivity({ identifier: did }, 'followers', new Delete({ id, actor: actorUri, to: PUBLIC_COLLECTION, object: actorUri }), { preferSharedInbox: true })
    await this.store.disable(did)
    await this.store.clearFollowers(did)
    log.info({ did }, 'bridging turned off')
  }
}
