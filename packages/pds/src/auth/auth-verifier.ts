import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { DidString } from '@atproto/syntax'
import type { AccountManager } from '../account/account-manager.ts'
import { AuthError, ForbiddenErr } from '../errors.ts'
import { AuthScope, type JwtIssuer } from './jwt.ts'

export type AccessCredentials = {
  type: 'access'
  did: DidString
  scope: AuthScope
  /** true for app-password sessions (never allowed account management) */
  isAppPassword: boolean
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

type Ctx = { req: IncomingMessage }

const bearer = (req: IncomingMessage): string | null => {
  const h = req.headers.authorization
  if (!h) return null
  const m = /^Bearer\s+(\S+)$/i.exec(h)
  if (!m) throw new AuthError('Authorization header must be "Bearer <token>"', 'InvalidToken')
  return m[1]
}

/**
 * Builds the XRPC auth functions. Each returns credentials or throws a 401/403
 * with the lexicon's error name. Deactivated and taken-down accounts are
 * refused where the reference refuses them.
 */
export class AuthVerifier {
  private readonly jwt: JwtIssuer
  private readonly accounts: AccountManager
  private readonly adminPassword: string

  constructor(jwt: JwtIssuer, accounts: AccountManager, adminPassword: string) {
    this.jwt = jwt
    this.accounts = accounts
    this.adminPassword = adminPassword
  }

  private async access(ctx: Ctx, scopes: AuthScope[], opts: { allowDeactivated?: boolean } = {}): Promise<AccessAuth> {
    const token = bearer(ctx.req)
    if (!token) throw new AuthError('Authentication Required')
    const payload = await this.jwt.verify(token, 'at+jwt')
    if (!scopes.includes(payload.scope)) {
      if (payload.scope === AuthScope.AppPass || payload.scope === AuthScope.AppPassPrivileged) {
        throw new ForbiddenErr('This method is not available to app-password sessions', 'InvalidToken')
      }
      throw new AuthError('Bad token scope', 'InvalidToken')
    }
    const acc = await this.accounts.getAccount(payload.sub)
    if (!acc) throw new AuthError('Account not found', 'AccountNotFound')
    if (acc.takedownRef) throw new AuthError('Account has been taken down', 'AccountTakedown')
    if (acc.deactivatedAt && !opts.allowDeactivated) {
      throw new AuthError('Account is deactivated', 'AccountDeactivated')
    }
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
  accessStandard = (opts: { allowDeactivated?: boolean } = {}) => (ctx: Ctx) =>
    this.access(ctx, [AuthScope.Access, AuthScope.AppPass, AuthScope.AppPassPrivileged], opts)

  /** Account management: full sessions only. */
  accessFull = (opts: { allowDeactivated?: boolean } = {}) => (ctx: Ctx) => this.access(ctx, [AuthScope.Access], opts)

  /** Full sessions and privileged app passwords. */
  accessPrivileged = (opts: { allowDeactivated?: boolean } = {}) => (ctx: Ctx) =>
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
