import type { RequestHandler, Response } from 'express'
import { SingleFlight } from '@atsuite/common'
import type { BridgeConfig } from './config.ts'
import type { BridgedUser, BridgeStore } from './store.ts'
import { federationLogger as log } from './logger.ts'

/** a domain not delegating to us is asked again after this when someone looks it up there */
const RECHECK_UNVERIFIED_MS = 10_000
/** a delegating domain is confirmed again in the background this often */
const RECHECK_VERIFIED_MS = 24 * 60 * 60_000
const CHECK_TIMEOUT_MS = 5_000

/**
 * WebFinger on a user's own handle domain. A user whose handle is a domain
 * they run (`alice.example.com`) can be `@alice.example.com@alice.example.com`
 * on the fediverse rather than `@alice.example.com@<bridge host>`: they
 * redirect `https://<handle>/.well-known/webfinger` to the bridge's, and the
 * bridge, having seen that redirect, names the domain form as the account's
 * address (the WebFinger `subject`), as Mastodon requires of an address on a
 * domain other than the actor's: it looks the subject up again at that domain
 * and accepts it only when the answer names the same actor.
 */
export class HandleDomains {
  private readonly cfg: BridgeConfig
  private readonly store: BridgeStore
  private readonly fetchFn: typeof fetch
  private readonly checks = new SingleFlight<string, boolean>()

  constructor(cfg: BridgeConfig, store: BridgeStore, fetchFn: typeof fetch = globalThis.fetch) {
    this.cfg = cfg
    this.store = store
    this.fetchFn = fetchFn
  }

  /** Asks the handle's domain for its WebFinger and records whether it redirects to ours. */
  check(user: Pick<BridgedUser, 'did' | 'handle'>): Promise<boolean> {
    return this.checks.run(`${user.did} ${user.handle}`, () => this.run(user))
  }

  private async run({ did, handle }: Pick<BridgedUser, 'did' | 'handle'>): Promise<boolean> {
    const url = `https://${handle}/.well-known/webfinger?resource=${encodeURIComponent(`acct:${handle}@${handle}`)}`
    let verified = false
    try {
      const res = await this.fetchFn(url, { redirect: 'manual', signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) })
      await res.arrayBuffer().catch(() => undefined)
      const location = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null
      if (location) {
        const to = new URL(location, url)
        verified = to.origin === new URL(this.cfg.publicUrl).origin && to.pathname === '/.well-known/webfinger'
      }
    } catch (err) {
      log.debug({ err, handle }, 'handle domain WebFinger not reachable')
    }
    await this.store.setDomainCheck(did, handle, verified)
    return verified
  }
}

const sendJrd = (res: Response, bridgeHost: string, user: BridgedUser, actorUri: string): void => {
  res.setHeader('access-control-allow-origin', '*')
  res.type('application/jrd+json').send(
    JSON.stringify({
      subject: `acct:${user.handle}@${user.handle}`,
      aliases: [actorUri, `acct:${user.handle}@${bridgeHost}`],
      links: [
        { rel: 'self', type: 'application/activity+json', href: actorUri },
        { rel: 'http://webfinger.net/rel/profile-page', type: 'text/html', href: actorUri },
      ],
    }),
  )
}

/**
 * `/.well-known/webfinger` for `acct:` addresses, in front of Fedify's: at the
 * bridge's host, a user whose domain delegates to us is answered with the
 * domain form as subject (the rest goes on to Fedify); a lookup of
 * `acct:<handle>@<handle>` (arriving through the domain's redirect) is
 * answered when that domain does delegate to us (checked then if not known).
 */
export const webfingerRoute = (deps: { cfg: BridgeConfig; store: BridgeStore; domains: HandleDomains; actorUri: (did: string) => string }): RequestHandler => {
  const { cfg, store, domains } = deps
  const bridgeHost = new URL(cfg.publicUrl).host.toLowerCase()
  return (req, res, next) => {
    if (req.method !== 'GET' || req.path !== '/.well-known/webfinger') return next()
    const m = /^acct:([^@]+)@([^@]+)$/i.exec(typeof req.query.resource === 'string' ? req.query.resource : '')
    if (!m) return next()
    const username = m[1].toLowerCase()
    const host = m[2].toLowerCase()
    const handle = async () => {
      const now = Date.now()
      if (host === bridgeHost) {
        const user = await store.enabledUserByHandle(username)
        if (!user?.domainVerifiedAt) return next()
        if (now - (user.domainCheckedAt ?? 0) > RECHECK_VERIFIED_MS) void domains.check(user)
        return sendJrd(res, bridgeHost, user, deps.actorUri(user.did))
      }
      const user = username === host ? await store.enabledUserByHandle(host) : undefined
      if (!user) return res.status(404).json({ error: 'NotFound', message: `no bridged account ${username}@${host}` })
      const verified = user.domainVerifiedAt != null || (now - (user.domainCheckedAt ?? 0) > RECHECK_UNVERIFIED_MS && (await domains.check(user)))
      if (!verified) {
        return res.status(404).json({
          error: 'NotFound',
          message: `${host} does not delegate WebFinger to this bridge: redirect https://${host}/.well-known/webfinger to ${cfg.publicUrl}/.well-known/webfinger`,
        })
      }
      const fresh = (await store.enabledUser(user.did)) ?? user
      return sendJrd(res, bridgeHost, fresh, deps.actorUri(user.did))
    }
    handle().catch(next)
  }
}
