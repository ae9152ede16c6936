import express, { type RequestHandler } from 'express'
import { oauthMiddleware } from '@atproto/oauth-provider/middleware'
import { buildProtectedResourceMetadata } from '@atproto/oauth-provider/utils'
import { InvalidRequestError, UseDpopNonceError } from '@atproto/oauth-provider/errors'
import { API_ENDPOINT_PREFIX } from '@atproto/oauth-provider-api'
import type { AppContext } from '../context.ts'
import { oauthLogger } from '../logger.ts'

/**
 * The OAuth endpoints (`/.well-known/oauth-authorization-server`, `/oauth/par`,
 * `/oauth/authorize`, `/oauth/token`, `/oauth/revoke`, the sign-in pages and
 * their assets under `/@atproto/oauth-provider/`, the `/account` page) and
 * the protected-resource document naming this server as its own
 * authorization server.
 */
export const oauthRoutes = (ctx: AppContext): RequestHandler => {
  const router = express.Router()
  const resource = buildProtectedResourceMetadata({
    resource: ctx.cfg.service.publicUrl as `https://${string}`,
    authorization_servers: [ctx.cfg.service.publicUrl as `https://${string}`],
    bearer_methods_supported: ['header'],
    scopes_supported: [],
    resource_documentation: 'https://atproto.com',
  })
  router.get('/.well-known/oauth-protected-resource', (_req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*')
    res.status(200).json(resource)
  })
  // the sign-in pages' API has the same budgets as the XRPC methods doing the same
  router.use(
    ctx.rateLimits.httpMiddleware({
      [`${API_ENDPOINT_PREFIX}/sign-in`]: ['create-session'],
      [`${API_ENDPOINT_PREFIX}/sign-up`]: ['create-account'],
      [`${API_ENDPOINT_PREFIX}/reset-password-request`]: ['request-password-reset'],
      [`${API_ENDPOINT_PREFIX}/reset-password-confirm`]: ['confirm-token'],
      [`${API_ENDPOINT_PREFIX}/delete-account-confirm`]: ['confirm-token'],
      [`${API_ENDPOINT_PREFIX}/verify-email-confirm`]: ['confirm-email-token'],
      [`${API_ENDPOINT_PREFIX}/update-email-confirm`]: ['confirm-email-token'],
      [`${API_ENDPOINT_PREFIX}/verify-email-request`]: ['request-email-token'],
      [`${API_ENDPOINT_PREFIX}/update-email-request`]: ['request-email-token'],
      [`${API_ENDPOINT_PREFIX}/delete-account-request`]: ['request-email-token'],
      '/oauth/par': ['global-ip'],
      '/oauth/token': ['global-ip'],
      '/oauth/revoke': ['global-ip'],
    }),
  )
  router.use(
    oauthMiddleware(ctx.oauth, {
      onError: (_req, _res, err, msg) => {
        // what clients get wrong is their answer, not our log's
        const expected =
          err instanceof UseDpopNonceError ||
          (err instanceof InvalidRequestError && err.error_description === 'Invalid identifier or password')
        if (!expected) oauthLogger.warn({ err }, msg)
      },
    }),
  )
  // none of it is under /xrpc/: XRPC calls skip the provider's per-request routing
  return (req, res, next) => (req.url.startsWith('/xrpc/') ? next() : router(req, res, next))
}
