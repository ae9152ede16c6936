import { createHmac } from 'node:crypto'
import { AccessTokenMode, JoseKey, OAuthProvider } from '@atproto/oauth-provider/provider'
import { safeFetchWrap } from '@atproto-labs/fetch-node'
import type { AppContext } from '../context.ts'
import { OAuthStore } from './store.ts'

/** A key for one purpose, derived from the server's JWT secret (so one secret is all an operator keeps). */
export const deriveSecret = (jwtSecret: string, purpose: string): Buffer => createHmac('sha256', jwtSecret).update(purpose).digest()

/** The access-token signing key: HS256 under a key of its own (a session JWT can never pass as one). */
export const oauthSigningKey = (jwtSecret: string): Promise<JoseKey> =>
  JoseKey.fromKeyLike(deriveSecret(jwtSecret, 'oauth access token'), 'oauth-hs256', 'HS256')

/**
 * The PDS as an atproto OAuth authorization server: PAR, PKCE, DPoP with
 * rotating nonces, client metadata documents fetched and validated, the
 * sign-in, consent and account pages, tokens stored in the service database
 * (stateful, so a revoked token stops working at once).
 */
export const createOAuthProvider = (ctx: AppContext, key: JoseKey, fetchClientMetadata?: typeof globalThis.fetch): OAuthProvider => {
  const { cfg, secrets } = ctx
  return new OAuthProvider({
    issuer: cfg.service.publicUrl,
    keyset: [key],
    store: new OAuthStore(ctx),
    dpopSecret: secrets.dpopSecret ?? deriveSecret(secrets.jwtSecret, 'dpop nonce'),
    accessTokenMode: AccessTokenMode.stateful,
    inviteCodeRequired: cfg.invites.required,
    availableUserDomains: cfg.identity.serviceHandleDomains,
    // client metadata and JWKS documents are fetched from wherever a client_id
    // points: never private addresses, bounded size, no implicit redirects
    safeFetch:
      fetchClientMetadata ??
      safeFetchWrap({ allowIpHost: false, allowImplicitRedirect: false, responseMaxSize: 512 * 1024, ssrfProtection: true }),
    metadata: { protected_resources: [new URL(cfg.service.publicUrl).origin] },
    branding: {
      name: cfg.oauth.serviceName,
      links: [
        ...(cfg.links.termsOfService ? [{ title: 'Terms of Service', href: cfg.links.termsOfService, rel: 'terms-of-service' as const }] : []),
        ...(cfg.links.privacyPolicy ? [{ title: 'Privacy Policy', href: cfg.links.privacyPolicy, rel: 'privacy-policy' as const }] : []),
      ],
    },
    // the device cookies are httpOnly, SameSite=Lax, and Secure whenever the issuer is https
    getClientInfo: (clientId) => ({ isTrusted: cfg.oauth.trustedClients.includes(clientId) }),
  })
}
