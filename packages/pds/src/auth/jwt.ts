import { SignJWT, jwtVerify, errors as joseErrors } from 'jose'
import { randomBytes } from 'node:crypto'
import { AuthError } from '../errors.ts'

export const AuthScope = {
  Access: 'com.atproto.access',
  Refresh: 'com.atproto.refresh',
  AppPass: 'com.atproto.appPass',
  AppPassPrivileged: 'com.atproto.appPassPrivileged',
} as const
export type AuthScope = (typeof AuthScope)[keyof typeof AuthScope]

export const ACCESS_TTL_S = 2 * 60 * 60
export const REFRESH_TTL_S = 90 * 24 * 60 * 60

export type AccessPayload = { sub: string; scope: AuthScope; aud: string; iat: number; exp: number }
export type RefreshPayload = AccessPayload & { jti: string }

/**
 * Session tokens: HS256, typed by header (`at+jwt` access, `refresh+jwt`
 * refresh) and by scope, audience = this PDS's service DID. A token of one
 * type is never accepted as the other.
 */
export class JwtIssuer {
  private readonly key: Uint8Array
  private readonly serviceDid: string

  constructor(secret: string, serviceDid: string) {
    this.key = new TextEncoder().encode(secret)
    this.serviceDid = serviceDid
  }

  async createAccessToken(did: string, scope: AuthScope): Promise<string> {
    return new SignJWT({ scope })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setAudience(this.serviceDid)
      .setSubject(did)
      .setIssuedAt()
      .setExpirationTime(`${ACCESS_TTL_S}s`)
      .sign(this.key)
  }

  async createRefreshToken(did: string, jti = randomBytes(32).toString('base64url')): Promise<{ jwt: string; jti: string; exp: number }> {
    const exp = Math.floor(Date.now() / 1000) + REFRESH_TTL_S
    const jwt = await new SignJWT({ scope: AuthScope.Refresh })
      .setProtectedHeader({ alg: 'HS256', typ: 'refresh+jwt' })
      .setAudience(this.serviceDid)
      .setSubject(did)
      .setJti(jti)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(this.key)
    return { jwt, jti, exp }
  }

  async verify(token: string, typ: 'at+jwt' | 'refresh+jwt'): Promise<RefreshPayload> {
    let result
    try {
      result = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        typ,
        audience: this.serviceDid,
      })
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new AuthError('Token has expired', 'ExpiredToken')
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'typ') {
        throw new AuthError('Invalid token type', 'InvalidToken')
      }
      throw new AuthError('Token could not be verified', 'InvalidToken')
    }
    const p = result.payload as Partial<RefreshPayload>
    if (typeof p.sub !== 'string' || !p.sub.startsWith('did:') || typeof p.scope !== 'string') {
      throw new AuthError('Malformed token', 'InvalidToken')
    }
    return p as RefreshPayload
  }
}
