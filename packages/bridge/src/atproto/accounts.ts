import { createHash, randomBytes } from 'node:crypto'
import { AtpAgent } from '@atproto/api'
import { SingleFlight } from '@atsuite/common'
import type { BridgeConfig } from '../config.ts'
import type { BridgeDb } from '../db/index.ts'
import { bridgeLogger } from '../logger.ts'

/** What the bridge knows of a fediverse actor when it mirrors it. */
export type RemoteActorInfo = { uri: string; address: string; name?: string; summary?: string }

/** The signed-in account's profile record. */
const writeProfile = async (agent: AtpAgent, displayName: string, description: string): Promise<void> => {
  await agent.com.atproto.repo.putRecord({
    repo: agent.session!.did,
    collection: 'app.bsky.actor.profile',
    rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', displayName, description },
  })
}

/**
 * The bridge's atproto side on its PDS: its own account (whose followers
 * are the users who turned bridging on), and one account per fediverse
 * actor that interacts with our users, holding that actor's replies, likes,
 * boosts and follows as ordinary app.bsky records. Sessions are kept per
 * account and refreshed by AtpAgent.
 */
export class AtprotoAccounts {
  private readonly cfg: BridgeConfig
  private readonly db: BridgeDb
  private readonly agents = new Map<string, Promise<AtpAgent>>()
  private self: { did: string; agent: AtpAgent } | undefined

  constructor(cfg: BridgeConfig, db: BridgeDb) {
    this.cfg = cfg
    this.db = db
  }

  /** The bridge's own account: signed in, or created on first start. */
  async bridgeAccount(): Promise<{ did: string; agent: AtpAgent }> {
    if (this.self) return this.self
    const agent = new AtpAgent({ service: this.cfg.pdsUrl })
    const { handle, email, password } = this.cfg.account
    try {
      await agent.login({ identifier: handle, password })
    } catch {
      await agent.createAccount({ handle, email, password, inviteCode: this.cfg.inviteCode })
      await writeProfile(
        agent,
        'Fediverse bridge',
        `Follow this account to be followable from Mastodon and the rest of the fediverse (as @<your handle>@${new URL(this.cfg.publicUrl).host}). Unfollow it to stop.`,
      )
      bridgeLogger.info({ did: agent.session!.did, handle }, 'bridge account created')
    }
    this.self = { did: agent.session!.did, agent }
    return this.self
  }

  /** A handle for a mirrored actor: its user name and a hash of its id, under the bridge's handle domain. */
  private handleFor(actor: RemoteActorInfo): string {
    const user = actor.address.split('@')[0].toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')
    const hash = createHash('sha256').update(actor.uri).digest('hex').slice(0, 5)
    const front = `${(user || 'fedi').slice(0, 12)}-${hash}`.replace(/^-/, '')
    return `${front.length < 3 ? `fedi-${front}` : front}${this.cfg.handleDomain}`
  }

  private readonly creating = new SingleFlight<string, { did: string; agent: AtpAgent }>()

  /**
   * The atproto account mirroring a fediverse actor, created the first time
   * it is needed (once, however many of its activities arrive at once).
   */
  mirror(actor: RemoteActorInfo): Promise<{ did: string; agent: AtpAgent }> {
    return this.creating.run(actor.uri, () => this.mirrorOnce(actor))
  }

  private async mirrorOnce(actor: RemoteActorInfo): Promise<{ did: string; agent: AtpAgent }> {
    const known = await this.db.kysely.selectFrom('remote_actor').selectAll().where('uri', '=', actor.uri).executeTakeFirst()
    if (known) return { did: known.did, agent: await this.session(known.did, known.handle, known.password) }
    const handle = this.handleFor(actor)
    const password = randomBytes(24).toString('base64url')
    const agent = new AtpAgent({ service: this.cfg.pdsUrl })
    await agent.createAccount({
      handle,
      email: `${handle.split('.')[0]}@mirror.invalid`,
      password,
      inviteCode: this.cfg.inviteCode,
    })
    const did = agent.session!.did
    await writeProfile(agent, (actor.name || actor.address).slice(0, 64), `${actor.address} on the fediverse, bridged. ${actor.uri}`.slice(0, 256))
    await this.db.kysely
      .insertInto('remote_actor')
      .values({ uri: actor.uri, address: actor.address, did, handle, password, createdAt: new Date().toISOString() })
      .execute()
    this.agents.set(did, Promise.resolve(agent))
    bridgeLogger.info({ did, handle, actor: actor.uri }, 'fediverse actor mirrored')
    return { did, agent }
  }

  private session(did: string, handle: string, password: string): Promise<AtpAgent> {
    let p = this.agents.get(did)
    if (!p) {
      p = (async () => {
        const agent = new AtpAgent({ service: this.cfg.pdsUrl })
        await agent.login({ identifier: handle, password })
        return agent
      })()
      p.catch(() => this.agents.delete(did))
      this.agents.set(did, p)
    }
    return p
  }
}
