import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isValidDid, type DidString } from '@atproto/syntax'
import type { OAuthVerifier } from '@atproto/oauth-provider/verifier'
import { ScopePermissionsTransition } from '@atproto/oauth-scopes'
import { checkScope, type OAuthPermissions } from './scopes.ts'
import type { AccountManager } from '../account/account-manager.ts'
import { AuthError, ForbiddenErr } from '../errors.ts'
import { AuthScope, type JwtIssuer } from './jwt.ts'

export type AccessCredentials = {
  type: 'access'
  did: DidString
  scope: AuthScope
  /** true for app-password sessions (never allowed account management) */
  isAppPassword: boolean
  /** an OAuth session's granted permissions (see scopes.ts); absent for password sessions */
  permissions?: OAuthPermissions
}
export type RefreshCredentials = { type: 'refresh'; did: DidString; jti: string }
export type AdminCredentials = { type: 'admin' }

// What each verifier hands a route: xrpc-server's `add` types a handler's
// `auth` from the verifier it is given, so routes never cast.
export type AccessAuth = { credentials: AccessCredentials }
export type RefreshAuth = { credentials: RefreshCredentials }
export type AdminAuth = { credentials: AdminCredentials }
/** A forwarded call: the user's session, or anonymous (no Authorization header at all). */
export type ProxiedAuth = { credentials: AccessCredentials | { type: 'none' } }

type Ctx = { req: IncomingMessage; res?: ServerResponse }

const bearer = (req: IncomingMessage): string | null => {
  const h = req.headers.authorization
  if (!h) return null
  const m = /^Bearer\s+(\S+)$/i.exec(h)
  if (!m) throw new AuthError('Authorization header must be "Bearer <token>" or "DPoP <token>"', 'InvalidToken')
  return m[1]
}

const isDpop = (req: IncomingMessage): boolean => /^DPoP\s/i.test(req.headers.authorization ?? '')

export type AccessOptions = {
  allowDeactivated?: boolean
  /**
   * Whether an OAuth session may call this, by its permissions (throws
   * ScopeMissingError when not). Standard routes admit OAuth sessions without
   * it (their handlers check what depends on the input); account-management
   * routes refuse OAuth sessions unless it is given.
   */
  oauth?: (permissions: OAuthPermissions) => void
}

/** `verifier` loads the OAuth provider on first use (AppContext.oauth). */
type OAuthLink = { verifier: () => Promise<OAuthVerifier>; publicUrl: string; audience: string }

/**
 * Builds the XRPC auth functions. Each returns credentials or throws a 401/403
 * with the lexicon's error name. Deactivated and taken-down accounts are
 * refused where the reference refuses them.
 */
export class AuthVerifier {
  private readonly jwt: JwtIssuer
  private readonly accounts: AccountManager
  private readonly adminPassword: string
  private readonly oauth: OAuthLink

  constructor(jwt: JwtIssuer, accounts: AccountManager, adminPassword: string, oauth: OAuthLink) {
    this.jwt = jwt
    this.accounts = accounts
    this.adminPassword = adminPassword
    this.oauth = oauth
  }

  private async checkAccount(did: string, opts: AccessOptions): Promise<void> {
    // kept by the account manager: no database read per request once an account is known
    const acc = await this.accounts.authStatus(did)
    if (!acc) throw new AuthError('Account not found', 'AccountNotFound')
    if (acc.takendown) throw new AuthError('Account has been taken down', 'AccountTakedown')
    if (acc.deactivated && !opts.allowDeactivated) {
      throw new AuthError('Account is deactivated', 'AccountDeactivated')
    }
  }

  /**
   * An OAuth access token with its DPoP proof: signature, expiry, audience,
   * the token still in the store (revocation is immediate), the proof's key
   * bound to the token, method and URL, nonce and jti fresh. Each answer
   * carries the next DPoP nonce; a refusal carries `WWW-Authenticate` (a
   * client told `use_dpop_nonce` retries with the new nonce).
   */
  private async oauthAccess(ctx: Ctx, level: 'standard' | 'account', opts: AccessOptions): Promise<AccessAuth> {
    const verifier = await this.oauth.verifier()
    const nonce = verifier.nextDpopNonce()
    if (nonce && ctx.res) {
      ctx.res.setHeader('DPoP-Nonce', nonce)
      ctx.res.appendHeader('Access-Control-Expose-Headers', 'DPoP-Nonce')
    }
    const url = new URL(ctx.req.url ?? '/', this.oauth.publicUrl)
    let payload
    try {
      payload = await verifier.authenticateRequest(ctx.req.method ?? 'GET', url, ctx.req.headers, {
        audience: [this.oauth.audience],
        scope: ['atproto'],
      })
    } catch (err) {
      // loaded with the verifier
      const { OAuthError, WWWAuthenticateError } = await import('@atproto/oauth-provider/errors')
      if (err instanceof WWWAuthenticateError && ctx.res) {
        ctx.res.setHeader('WWW-Authenticate', err.wwwAuthenticateHeader)
        ctx.res.appendHeader('Access-Control-Expose-Headers', 'WWW-Authenticate')
      }
      if (err instanceof OAuthError) throw new AuthError(err.error_description, err.error === 'invalid_token' ? 'InvalidToken' : err.error)
      throw err
    }
    const did = payload.sub
    if (!isValidDid(did)) throw new AuthError('Malformed token', 'InvalidToken')
    await this.checkAccount(did, opts)
    const permissions = new ScopePermissionsTransition(payload.scope?.split(' '))
    if (opts.oauth) checkScope({ permissions }, opts.oauth)
    else if (level === 'account') {
      throw new ForbiddenErr('This method manages the account itself: an app signed in with OAuth cannot call it', 'InvalidToken')
    }
    return { credentials: { type: 'access', did, scope: AuthScope.Access, isAppPassword: false, permissions } }
  }

  private async access(ctx: Ctx, scopes: AuthScope[], opts: AccessOptions = {}): Promise<AccessAuth> {
    if (isDpop(ctx.req)) return this.oauthAccess(ctx, scopes.includes(AuthScope.AppPass) ? 'standard' : 'account', opts)
    const token = bearer(ctx.req)
    if (!token) throw new AuthError('Authentication Required')
    const payload = await this.jwt.verify(token, 'at+jwt')
    if (!scopes.includes(payload.scope)) {
      if (payload.scope === AuthScope.AppPass || payload.scope === AuthScope.AppPassPrivileged) {
        throw new ForbiddenErr('This method is not available to app-password sessions', 'InvalidToken')
      }
      throw new AuthError('Bad token scope', 'InvalidToken')
    }
    await this.checkAccount(payload.sub, opts)
    return {
      credentials: {
        type: 'access',
        did: payload.sub,
        scope: payload.scope,
        isAppPassword: payload.scope !== AuthScope.Access,
      },
    }
  }

  /** Any session, including app passwords. */
  accessStandard = (opts: AccessOptions = {}) => (ctx: Ctx) =>
    this.access(ctx, [AuthScope.Access, AuthScope.AppPass, AuthScope.AppPassPrivileged], opts)

  /** Account management: full sessions only. */
  accessFull = (opts: AccessOptions = {}) => (ctx: Ctx) => this.access(ctx, [AuthScope.Access], opts)

  /** Full sessions and privileged app passwords. */
  accessPrivileged = (opts: AccessOptions = {}) => (ctx: Ctx) =>
    this.access(ctx, [AuthScope.Access, AuthScope.AppPassPrivileged], opts)

  /**
   * Calls the PDS forwards for its users (app view reads, atproto-proxy):
   * any session, app passwords and deactivated accounts included, as the
   * reference allows. Which methods an app password may reach is the
   * proxy's check.
   */
  proxied = (ctx: Ctx): Promise<AccessAuth> =>
    this.access(ctx, [AuthScope.Access, AuthScope.AppPass, AuthScope.AppPassPrivileged], { allowDeactivated: true })

  /** `proxied`, or anonymous when no Authorization header is sent (a bad one is still a 401). */
  optionalProxied = async (ctx: Ctx): Promise<ProxiedAuth> =>
    ctx.req.headers.authorization === undefined ? { credentials: { type: 'none' } } : this.proxied(ctx)

  refresh = async (ctx: Ctx): Promise<RefreshAuth> => {
    const token = bearer(ctx.req)
    if (!token) throw new AuthError('Authentication Required')
    const payload = await this.jwt.verify(token, 'refresh+jwt')
    if (payload.scope !== AuthScope.Refresh || typeof payload.jti !== 'string') {
      throw new AuthError('Bad token scope', 'InvalidToken')
    }
    return { credentials: { type: 'refresh', did: payload.sub, jti: payload.jti } }
  }

  admin = async (ctx: Ctx): Promise<AdminAuth> => {
    const creds = this.adminCredentials(ctx.req)
    if (creds === 'none') throw new AuthError('Admin authentication required')
    if (creds === 'wrong') throw new AuthError('Invalid admin credentials')
    return { credentials: { type: 'admin' } }
  }

  /** Whether the request carries the admin password (Basic `admin:<password>`), compared in constant time. */
  isAdmin = (req: Ctx['req']): boolean => this.adminCredentials(req) === 'admin'

  private adminCredentials(req: Ctx['req']): 'none' | 'wrong' | 'admin' {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '')
    if (!m) return 'none'
    const [user, ...rest] = Buffer.from(m[1], 'base64').toString().split(':')
    const given = Buffer.from(rest.join(':'))
    const expected = Buffer.from(this.adminPassword)
    return user === 'admin' && given.length === expected.length && timingSafeEqual(given, expected) ? 'admin' : 'wrong'
  }
}
