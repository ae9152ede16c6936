import { AtUri, type AtUriString, type DidString } from '@atproto/syntax'
import { app } from '../lexicon/app.ts'
import type { AccountManager } from '../account/account-manager.ts'
import type { ActorStore } from '../actor-store/actor-store.ts'
import { InvalidRequest } from '../errors.ts'
import type { RepoReader } from '../repo/repo-reader.ts'
import type { Pipethrough } from './pipethrough.ts'
import { UpstreamError } from './upstream.ts'

const TTL_MS = 5 * 60 * 1000
const CACHE_MAX = 10_000
const GENERATOR = app.bsky.feed.generator.$type

const unknownFeed = (feed: string) => new InvalidRequest(`could not resolve the feed generator of ${feed}`, 'UnknownFeed')

/**
 * The DID of the generator that serves a feed (the `did` of its
 * app.bsky.feed.generator record), which getFeed's service token is minted
 * for. A feed record hosted here is read from its repo; any other is asked
 * of the app view (getFeedGenerator, anonymously), and remembered for a few
 * minutes. A feed nobody knows is a 400 UnknownFeed.
 */
export class FeedGeneratorDids {
  private readonly accounts: AccountManager
  private readonly actorStore: ActorStore
  private readonly repoReader: RepoReader
  private readonly pipethrough: Pipethrough
  private readonly cache = new Map<string, { did: DidString; at: number }>()

  constructor(opts: { accounts: AccountManager; actorStore: ActorStore; repoReader: RepoReader; pipethrough: Pipethrough }) {
    this.accounts = opts.accounts
    this.actorStore = opts.actorStore
    this.repoReader = opts.repoReader
    this.pipethrough = opts.pipethrough
  }

  async didOf(feed: AtUriString): Promise<DidString> {
    let uri: AtUri
    try {
      uri = new AtUri(feed)
    } catch {
      throw unknownFeed(feed)
    }
    if (uri.collection !== GENERATOR || !uri.rkey) throw unknownFeed(feed)
    const hosted = await this.accounts.getAccount(uri.host)
    if (hosted && this.actorStore.exists(hosted.did)) {
      const rec = this.repoReader.getRecord(hosted.did, GENERATOR, uri.rkey)
      const res = rec ? app.bsky.feed.generator.$safeValidate(rec.value) : null
      if (!res?.success) throw unknownFeed(feed)
      return res.value.did
    }
    const cached = this.cache.get(feed)
    if (cached && Date.now() - cached.at < TTL_MS) return cached.did
    const did = await this.fromAppView(feed)
    if (this.cache.size >= CACHE_MAX) this.cache.clear()
    this.cache.set(feed, { did, at: Date.now() })
    return did
  }

  private async fromAppView(feed: AtUriString): Promise<DidString> {
    const appView = this.pipethrough.appView
    if (!appView) throw unknownFeed(feed)
    try {
      const res = app.bsky.feed.getFeedGenerator.$output.schema.safeValidate(
        await this.pipethrough.query(appView, 'app.bsky.feed.getFeedGenerator', { feed }),
      )
      if (!res.success) throw unknownFeed(feed)
      return res.value.view.did
    } catch (err) {
      if (err instanceof UpstreamError && err.upstreamStatus < 500) throw unknownFeed(feed)
      throw err
    }
  }
}
