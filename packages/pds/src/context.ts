import fs from 'node:fs'
import path from 'node:path'
import { Secp256k1Keypair } from '@atproto/crypto'
import { EventLog, StoreCheckpointer } from '@atsuite/common'
import { AccountManager } from './account/account-manager.ts'
import { AccountAdmin } from './account/account-admin.ts'
import { ActorStore } from './actor-store/actor-store.ts'
import { AuthVerifier } from './auth/auth-verifier.ts'
import { JwtIssuer } from './auth/jwt.ts'
import type { BlobStore } from './blobstore/blobstore.ts'
import { DiskBlobStore } from './blobstore/disk-blobstore.ts'
import type { PdsConfig, PdsSecrets } from './config.ts'
import { openAccountDb, type AccountDb } from './db/index.ts'
import { PlcIdentity } from './identity/plc.ts'
import { DidDocResolver } from './identity/did-resolver.ts'
import { Mailer } from './mailer/mailer.ts'
import { RepoWriter } from './repo/repo-writer.ts'
import { RepoReader } from './repo/repo-reader.ts'
import { RepoImporter } from './repo/import.ts'
import { BlobManager } from './blobstore/blob-manager.ts'
import { Crawlers } from './crawlers.ts'
import { accountEvent, commitEvent, identityEvent, syncEvent, type PendingEvent } from './sequencer/events.ts'
import { CommitSequencer } from './sequencer/commits.ts'
import { RateLimits } from './rate-limits.ts'
import type { CommitData } from '@atproto/repo'
import { parseCid } from '@atproto/lex-data'
import { Pipethrough } from './proxy/pipethrough.ts'
import { ServiceResolver } from './proxy/service-resolver.ts'
import { UpstreamClient } from './proxy/upstream.ts'
import { FeedGeneratorDids } from './proxy/feed-generators.ts'
import type { OAuthProvider } from '@atproto/oauth-provider/provider'
import { lazy } from './lazy.ts'

/** Collaborators a test may replace through `PDS.create(cfg, secrets, overrides)`. */
export type ContextOverrides = {
  blobstore?: BlobStore
  mailer?: Mailer
  /** how custom-domain handles are looked up (default: DNS TXT `_atproto.<handle>`, then `https://<handle>/.well-known/atproto-did`) */
  handleResolver?: HandleLookup
  /**
   * how OAuth client metadata and JWKS documents are fetched (default: a
   * fetch that refuses private addresses, IP hosts and large answers)
   */
  oauthClientFetch?: typeof globalThis.fetch
}

/** A handle's DID as DNS or the domain's well-known says, or undefined. */
export type HandleLookup = { resolve(handle: string): Promise<string | undefined> }

/**
 * Handles outside our service domains, through DNS TXT and the domain's
 * `/.well-known/atproto-did` (@atproto/identity's resolver, loaded at its
 * first use: it imports three copies of undici). Plain fetch: the default
 * refuses http:// and loopback, which local networks use.
 */
export const lazyHandleResolver = (): HandleLookup => {
  const resolver = lazy(async () => new (await import('@atproto/identity')).HandleResolver({ fetch: globalThis.fetch }))
  return {
    resolve: async (handle) => {
      try {
        return await (await resolver()).resolve(handle)
      } catch {
        // unresolvable, as a lookup that found nothing
        return undefined
      }
    },
  }
}

/** Every long-lived collaborator of the PDS, built in one place. */
export class AppContext {
  readonly cfg: PdsConfig
  readonly secrets: PdsSecrets
  readonly accountDb: AccountDb
  readonly accounts: AccountManager
  /** the operator's (admin API) queries and changes over the service database */
  readonly accountAdmin: AccountAdmin
  readonly actorStore: ActorStore
  readonly blobstore: BlobStore
  readonly blobs: BlobManager
  readonly repoWriter: RepoWriter
  readonly repoReader: RepoReader
  /** importRepo: whole repos and diffs from CAR streams */
  readonly importer: RepoImporter
  readonly jwt: JwtIssuer
  readonly auth: AuthVerifier
  readonly plc: PlcIdentity
  /** DID documents (did:plc from the directory, did:web from their hosts) */
  readonly didResolver: DidDocResolver
  /** custom-domain handles (see ContextOverrides.handleResolver) */
  readonly handleResolver: HandleLookup
  readonly mailer: Mailer
  /** the firehose log (subscribeRepos) */
  readonly sequencer: EventLog
  readonly commits: CommitSequencer
  readonly crawlers: Crawlers
  /** forwards calls to the app view and other services as the PDS's users */
  readonly pipethrough: Pipethrough
  /** getFeed: which generator a feed's service token is for */
  readonly feedGenerators: FeedGeneratorDids
  /** rate limits of auth surfaces and writes (routes' `rateLimit`, the server's limiters) */
  readonly rateLimits: RateLimits
  private readonly oauthClientFetch: typeof globalThis.fetch | undefined
  /**
   * The OAuth authorization server (sign-in pages, PAR, tokens) and
   * access-token verifier, loaded at its first use: the provider and what it
   * imports are ~15 MiB of memory, which a PDS whose apps all sign in with
   * passwords never needs.
   */
  readonly oauth: () => Promise<OAuthProvider> = lazy(async () => {
    const { createOAuthProvider, oauthSigningKey } = await import('./oauth/provider.ts')
    return createOAuthProvider(this, await oauthSigningKey(this.secrets.jwtSecret), this.oauthClientFetch)
  })

  private constructor(
    fields: Omit<AppContext, 'destroy' | 'announceAccount' | 'announceActivation' | 'announce' | 'oauth'>,
    oauthClientFetch: typeof globalThis.fetch | undefined,
  ) {
    this.cfg = fields.cfg
    this.secrets = fields.secrets
    this.accountDb = fields.accountDb
    this.accounts = fields.accounts
    this.accountAdmin = fields.accountAdmin
    this.actorStore = fields.actorStore
    this.blobstore = fields.blobstore
    this.blobs = fields.blobs
    this.repoWriter = fields.repoWriter
    this.repoReader = fields.repoReader
    this.importer = fields.importer
    this.jwt = fields.jwt
    this.auth = fields.auth
    this.plc = fields.plc
    this.didResolver = fields.didResolver
    this.handleResolver = fields.handleResolver
    this.mailer = fields.mailer
    this.sequencer = fields.sequencer
    this.commits = fields.commits
    this.crawlers = fields.crawlers
    this.pipethrough = fields.pipethrough
    this.feedGenerators = fields.feedGenerators
    this.rateLimits = fields.rateLimits
    this.oauthClientFetch = oauthClientFetch
  }

  /** Firehose events for a newly created (or activated) account, in the reference's order. */
  announceAccount(did: string, handle: string, commit: CommitData, opts: { withCommit: boolean }): void {
    const events: PendingEvent[] = [identityEvent(did, handle), accountEvent(did, true)]
    if (opts.withCommit) events.push(commitEvent({ did, commit, ops: [], prevData: null }))
    const bytes = commit.newBlocks.get(commit.cid)
    if (bytes) events.push(syncEvent(did, commit.cid, bytes, commit.rev))
    this.sequencer.append(events)
  }

  /** #account active + #sync of the current commit, so consumers can resync. */
  announceActivation(did: string): void {
    const head = this.actorStore.read(did, (db) => {
      const root = db.getRoot()
      const bytes = root ? db.getBlock(root.cid) : undefined
      return root && bytes ? { root, bytes } : undefined
    })
    const events: PendingEvent[] = [accountEvent(did, true)]
    if (head) events.push(syncEvent(did, parseCid(head.root.cid), head.bytes, head.root.rev))
    this.sequencer.append(events)
  }

  /** Appends firehose events (identity / account changes). */
  announce(...events: PendingEvent[]): void {
    this.sequencer.append(events)
  }

  static async create(cfg: PdsConfig, secrets: PdsSecrets, overrides: ContextOverrides = {}): Promise<AppContext> {
    for (const dir of [cfg.dataDirectory, path.dirname(cfg.accountDbLocation), cfg.actorStoreDirectory, cfg.blobstoreLocation]) {
      fs.mkdirSync(dir, { recursive: true })
    }
    const accountDb = await openAccountDb(cfg.accountDbLocation)
    const jwt = new JwtIssuer(secrets.jwtSecret, cfg.service.did)
    const accounts = new AccountManager(accountDb, jwt)
    // by default each store's writer and the firehose log's checkpoint themselves; with an interval set,
    // one checkpoint thread for every account's store and the log (the actor store closes it, last)
    const checkpointer = cfg.actorStoreCheckpointMs > 0 ? new StoreCheckpointer({ intervalMs: cfg.actorStoreCheckpointMs, synchronous: 'normal' }) : undefined
    const actorStore = new ActorStore(cfg.actorStoreDirectory, { cacheSize: cfg.actorStoreCacheSize, checkpointer })
    const blobstore = overrides.blobstore ?? new DiskBlobStore(cfg.blobstoreLocation)
    const sequencer = new EventLog(cfg.firehose.dbLocation, { retentionMs: cfg.firehose.retentionMs, checkpointer: checkpointer ?? 'writer' })
    const commits = new CommitSequencer(sequencer, accounts, actorStore)
    const repoWriter = new RepoWriter(actorStore, blobstore, commits)
    // the host a relay should crawl: hostname[:port] of the public URL
    const crawlers = new Crawlers(new URL(cfg.service.publicUrl).host, cfg.crawlers)
    repoWriter.onCommitted(() => crawlers.notifyOfUpdate())
    const rotationKey = await Secp256k1Keypair.import(secrets.plcRotationKeyHex)
    const didResolver = new DidDocResolver(cfg.identity.plcUrl)
    const pipethrough = new Pipethrough({
      resolver: new ServiceResolver({ didResolver, appView: cfg.bskyAppView, allowInsecure: cfg.proxy.allowInsecure }),
      upstream: new UpstreamClient({ headersTimeoutMs: cfg.proxy.headersTimeoutMs }),
      signingKey: (did) => actorStore.keypair(did),
    })
    const repoReader = new RepoReader(actorStore)
    const auth = new AuthVerifier(jwt, accounts, secrets.adminPassword, {
      verifier: () => context.oauth(),
      publicUrl: cfg.service.publicUrl,
      audience: cfg.service.did,
    })
    const context: AppContext = new AppContext({
      cfg,
      secrets,
      accountDb,
      accounts,
      accountAdmin: new AccountAdmin(accountDb),
      actorStore,
      blobstore,
      blobs: new BlobManager(actorStore, blobstore, cfg),
      repoWriter,
      sequencer,
      commits,
      crawlers,
      repoReader,
      importer: new RepoImporter(actorStore),
      jwt,
      auth,
      plc: new PlcIdentity(cfg.identity.plcUrl, rotationKey),
      didResolver,
      handleResolver: overrides.handleResolver ?? lazyHandleResolver(),
      pipethrough,
      feedGenerators: new FeedGeneratorDids({ accounts, actorStore, repoReader, pipethrough }),
      rateLimits: new RateLimits(cfg.rateLimits, auth.isAdmin),
      mailer:
        overrides.mailer ??
        new Mailer({ smtpUrl: cfg.email.smtpUrl, from: cfg.email.fromAddress, directory: cfg.email.mailDirectory }),
    }, overrides.oauthClientFetch)
    return context
  }

  async destroy(): Promise<void> {
    this.blobs.stop()
    this.commits.stop()
    await this.sequencer.close()
    await this.actorStore.close()
    this.accounts.flushRoots()
    await this.accountDb.close()
  }
}
