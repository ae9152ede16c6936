import type { RequestHandler, Response } from 'express'
import type { AppContext } from '../context.ts'
import { AuthScope } from '../auth/jwt.ts'
import { isLocalOnlyMethod, isPrivilegedMethod } from '../auth/method-policy.ts'
import { InvalidRequest } from '../errors.ts'
import { checkRpcScope } from '../auth/scopes.ts'
import { clientGone, headerOf, sendUpstream, withUpstreamHeaders } from './respond.ts'

const notImplemented = (res: Response, nsid: string): void => {
  res.status(501).json({ error: 'MethodNotImplemented', message: `Method not implemented: ${nsid}` })
}

/**
 * What answers an `/xrpc/<nsid>` the PDS does not serve itself: the call is
 * forwarded (`Pipethrough`) to the service named by `atproto-proxy`, or to
 * the app view for app.bsky.*; with no such service it is the reference's
 * 501. The PDS's own namespaces (com.atproto.{admin,identity,server,sync,
 * repo}, preferences) are never forwarded: 501 when unimplemented, 400 when
 * a proxy header asks for it. With a session token (app passwords included)
 * the call goes as the user; DMs and account creation are refused to plain
 * app passwords, as the reference does. A bad token is a 401, never dropped.
 */
export const unknownMethod =
  (ctx: AppContext): RequestHandler =>
  async (req, res, next) => {
    try {
      const nsid = req.path.slice('/xrpc/'.length)
      const proxyHeader = headerOf(req, 'atproto-proxy')
      if (isLocalOnlyMethod(nsid)) {
        if (proxyHeader !== undefined) throw new InvalidRequest(`${nsid} is served by the PDS itself and is never forwarded`)
        return notImplemented(res, nsid)
      }
      if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'POST') {
        throw new InvalidRequest(`XRPC calls are GET or POST, not ${req.method}`)
      }
      const target = await ctx.pipethrough.target(nsid, proxyHeader)
      if (!target) return notImplemented(res, nsid)
      const auth = req.headers.authorization !== undefined ? await ctx.auth.proxied({ req, res }) : null
      // an OAuth session reaches only the methods and services it was granted
      if (auth) checkRpcScope(auth.credentials, nsid, `${target.did}#${target.serviceId}`)
      if (auth?.credentials.scope === AuthScope.AppPass && isPrivilegedMethod(nsid)) {
        throw new InvalidRequest(`${nsid} is not available to app-password sessions`, 'InvalidToken')
      }
      const iss = auth?.credentials.did
      const upstream = await ctx.pipethrough
        .forward(req, target, { nsid, ...(iss ? { iss } : {}), signal: clientGone(res) })
        .catch((err: unknown) => Promise.reject(withUpstreamHeaders(res, err)))
      await sendUpstream(res, upstream)
    } catch (err) {
      next(err)
    }
  }
