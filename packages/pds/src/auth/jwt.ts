import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto'
import { isValidDid, type DidString } from '@atproto/syntax'
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
/** verified tokens remembered (a few hundred bytes each) */
const VERIFIED_CACHE_SIZE = 10_000

export type AccessPayload = { sub: DidString; scope: AuthScope; aud: string; iat: number; exp: number }
export type RefreshPayload = AccessPayload & { jti: string }

type JwtType = 'at+jwt' | 'refresh+jwt'

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)

/**
 * Session tokens: HS256 JWTs, typed by header (`at+jwt` access, `refresh+jwt`
 * refresh) and by scope, audience = this PDS's service DID. A token of one
 * type is never accepted as the other; `alg` must be HS256 (so `none` and
 * key-confusion tricks fail). Synchronous HMAC (node:crypto): verification is
 * on every authenticated request, so the key is prepared once (a raw key made
 * node:crypto build a KeyObject per call) and a token that verified is
 * remembered with its payload: a client sends the same access token for
 * hours, and each use then only checks type and expiry again.
 */
export class JwtIssuer {
  private readonly key: KeyObject
  private readonly serviceDid: string
  /** token → what verify() returned for it (insertion order: the oldest is dropped first) */
  private readonly verified = new Map<string, { typ: JwtType; payload: RefreshPayload }>()

  constructor(secret: string, serviceDid: string) {
    this.key = createSecretKey(Buffer.from(secret))
    this.serviceDid = serviceDid
  }

  private sign(typ: JwtType, payload: Record<string, unknown>): string {
    const input = `${b64url(JSON.stringify({ alg: 'HS256', typ }))}.${b64url(JSON.stringify(payload))}`
    const sig = createHmac('sha256', this.key).update(input).digest('base64url')
    return `${input}.${sig}`
  }

  async createAccessToken(did: string, scope: AuthScope): Promise<string> {
    const iat = now()
    return this.sign('at+jwt', { scope, aud: this.serviceDid, sub: did, iat, exp: iat + ACCESS_TTL_S })
  }

  async createRefreshToken(
    did: string,
    jti = randomBytes(32).toString('base64url'),
  ): Promise<{ jwt: string; jti: string; exp: number }> {
    const iat = now()
    const exp = iat + REFRESH_TTL_S
    const jwt = this.sign('refresh+jwt', { scope: AuthScope.Refresh, aud: this.serviceDid, sub: did, jti, iat, exp })
    return { jwt, jti, exp }
  }

  async verify(token: string, typ: JwtType): Promise<RefreshPayload> {
    const known = this.verified.get(token)
    if (known) {
      if (known.typ !== typ) throw new AuthError('Invalid token type', 'InvalidToken')
      if (known.payload.exp <= now()) {
        this.verified.delete(token)
        throw new AuthError('Token has expired', 'ExpiredToken')
      }
      return known.payload
    }
    const payload = this.verifyOnce(token, typ)
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!)
    this.verified.set(token, { typ, payload })
    return payload
  }

  private verifyOnce(token: string, typ: JwtType): RefreshPayload {
    const parts = token.split('.')
    if (parts.length !== 3) throw new AuthError('Malformed token', 'InvalidToken')
    const [h, p, s] = parts
    const expected = createHmac('sha256', this.key).update(`${h}.${p}`).digest()
    const given = Buffer.from(s, 'base64url')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AuthError('Token could not be verified', 'InvalidToken')
    }
    let header: { alg?: unknown; typ?: unknown }
    let payload: Partial<RefreshPayload>
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString())
      payload = JSON.parse(Buffer.from(p, 'base64url').toString())
    } catch {
      throw new AuthError('Malformed token', 'InvalidToken')
    }
    if (header.alg !== 'HS256') throw new AuthError('Token could not be verified', 'InvalidToken')
    if (header.typ !== typ) throw new AuthError('Invalid token type', 'InvalidToken')
    if (payload.aud !== this.serviceDid) throw new AuthError('Token could not be verified', 'InvalidToken')
    if (typeof payload.exp !== 'number' || payload.exp <= now()) throw new AuthError('Token has expired', 'ExpiredToken')
    if (!isValidDid(payload.sub) || typeof payload.scope !== 'string') {
      throw new AuthError('Malformed token', 'InvalidToken')
    }
    return Object.freeze(payload) as RefreshPayload
  }
}
