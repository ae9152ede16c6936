import express, { type RequestHandler } from 'express'
import type { AppContext } from '../context.ts'
import { oauthLogger } from '../logger.ts'
import { lazy } from '../lazy.ts'

/**
 * Every path the OAuth provider answers (its router's, see oauthRoutes) and
 * the protected-resource document. No other request loads the provider.
 */
export const OAUTH_PATH =
  /^\/(?:oauth(?:\/|$)|account(?:\/|$)|@atproto\/oauth-provider\/|\.well-known\/(?:oauth-authorization-server|oauth-protected-resource|change-password)$)/

/**
 * The OAuth endpoints (`/.well-known/oauth-authorization-server`, `/oauth/par`,
 * `/oauth/authorize`, `/oauth/token`, `/oauth/revoke`, `/oauth/jwks`, the
 * sign-in pages and their API and assets under `/@atproto/oauth-provider/`,
 * the `/account` pages, `/.well-known/change-password`) and the
 * protected-resource document naming this server as its own authorization
 * server. The provider, and these routes, are built at the first request
 * for one of those paths (AppContext.oauth).
 */
export const oauthRoutes = (ctx: AppContext): RequestHandler => {
  const router = lazy(() => buildRouter(ctx))
  return (req, res, next) => {
    if (!OAUTH_PATH.test((req.url ?? '/').split('?', 1)[0])) return next()
    // a failed build, or a throw from the provider's router, goes to the error handler
    router()
      .then((r) => r(req, res, next))
      .catch(next)
  }
}

const buildRouter = async (ctx: AppContext): Promise<RequestHandler> => {
  const [{ oauthMiddleware }, { buildProtectedResourceMetadata }, { InvalidRequestError, UseDpopNonceError }, { API_ENDPOINT_PREFIX }, provider] =
    await Promise.all([
      import('@atproto/oauth-provider/middleware'),
      import('@atproto/oauth-provider/utils'),
      import('@atproto/oauth-provider/errors'),
      import('@atproto/oauth-provider-api'),
      ctx.oauth(),
    ])
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
    oauthMiddleware(provider, {
      onError: (_req, _res, err, msg) => {
        // what clients get wrong is their answer, not our log's
        const expected =
          err instanceof UseDpopNonceError ||
          (err instanceof InvalidRequestError && err.error_description === 'Invalid identifier or password')
        if (!expected) oauthLogger.warn({ err }, msg)
      },
    }),
  )
  return router
}
