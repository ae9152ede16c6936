import type { Request } from 'express'
import type { Keypair } from '@atproto/crypto'
import type { LexValue } from '@atproto/lex-data'
import { lexParse } from '@atproto/lex-json'
import type { DidString } from '@atproto/syntax'
import { createServiceJwt, ResponseType, XRPCError } from '@atproto/xrpc-server'
import type { ServiceResolver, ServiceTarget } from './service-resolver.ts'
import { readBody, UpstreamError, type UpstreamClient, type UpstreamResponse } from './upstream.ts'

/** Request headers that matter to the service (the reference PDS's list). */
const FORWARDED_REQUEST_HEADERS = ['accept', 'accept-language', 'atproto-accept-labelers', 'x-bsky-topics']
/** Answers the PDS reads itself (lookups, read-after-write) are at most this large. */
export const MAX_JSON_BYTES = 10 * 1024 * 1024

export type ForwardOptions = {
  /** the called method (`/xrpc/<nsid>`) */
  nsid: string
  /** the authenticated caller: a service JWT signed with their repo key goes along */
  iss?: DidString
  /** the token's audience when it is not the target's DID (getFeed: the feed generator) */
  aud?: DidString
  /** the token's method when it is not the called one (getFeed: getFeedSkeleton) */
  lxm?: string
  /** aborts the upstream call (the client went away) */
  signal?: AbortSignal
}

/**
 * Forwards XRPC calls to other services on behalf of the PDS's users (the
 * reference's `pipethrough`): to the service named by `atproto-proxy`, or to
 * the app view for app.bsky.*. An authenticated caller's call carries a
 * short-lived (60 s) service JWT: iss = the user, aud = the service's DID
 * (bare, no `#service` fragment: app views compare it to their DID), lxm =
 * the method, signed with the user's repo key; an anonymous one carries no
 * Authorization at all. Which methods may be forwarded, and who may call
 * them, is the caller's decision (auth/method-policy.ts).
 */
export class Pipethrough {
  private readonly resolver: ServiceResolver
  private readonly upstream: UpstreamClient
  private readonly signingKey: (did: DidString) => Promise<Keypair>

  constructor(opts: { resolver: ServiceResolver; upstream: UpstreamClient; signingKey: (did: DidString) => Promise<Keypair> }) {
    this.resolver = opts.resolver
    this.upstream = opts.upstream
    this.signingKey = opts.signingKey
  }

  get appView(): ServiceTarget | null {
    return this.resolver.appView
  }

  /**
   * The service a call goes to: the one `atproto-proxy` names (a 400 when it
   * cannot be found), else the app view for app.bsky.*; null when there is none.
   */
  async target(nsid: string, proxyHeader: string | undefined): Promise<ServiceTarget | null> {
    if (proxyHeader !== undefined) return this.resolver.fromHeader(proxyHeader)
    if (nsid.toLowerCase().startsWith('app.bsky.')) return this.resolver.appView
    return null
  }

  /** Forwards the client's request (method, path and query, body, headers that matter) to `target`. */
  async forward(req: Request, target: ServiceTarget, opts: ForwardOptions): Promise<UpstreamResponse> {
    const headers: Record<string, string> = {}
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const v = req.headers[name]
      if (typeof v === 'string') headers[name] = v
    }
    const hasBody = req.method === 'POST' && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0)
    if (hasBody) {
      for (const name of ['content-type', 'content-encoding']) {
        const v = req.headers[name]
        if (typeof v === 'string') headers[name] = v
      }
    }
    if (opts.iss) headers.authorization = `Bearer ${await this.token(opts.iss, opts.aud ?? target.did, opts.lxm ?? opts.nsid)}`
    return this.send(target, {
      // on the service's origin whatever the path looks like (`//host/…` is a path here, not a host)
      url: `${new URL(target.url).origin}${req.originalUrl}`,
      method: req.method === 'HEAD' ? 'HEAD' : req.method === 'POST' ? 'POST' : 'GET',
      headers,
      ...(hasBody ? { body: req } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    })
  }

  /**
   * A query of the PDS's own (read-after-write lookups, getFeed's generator
   * DID): the parsed JSON answer, as lex values. As `iss` when given.
   */
  async query(target: ServiceTarget, nsid: string, params: Record<string, string | string[]>, iss?: DidString): Promise<LexValue> {
    const url = new URL(`/xrpc/${nsid}`, target.url)
    for (const [k, v] of Object.entries(params)) for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, item)
    const headers: Record<string, string> = { accept: 'application/json' }
    if (iss) headers.authorization = `Bearer ${await this.token(iss, target.did, nsid)}`
    const res = await this.send(target, { url: url.toString(), method: 'GET', headers })
    return parseJson(await readBody(res.body, MAX_JSON_BYTES))
  }

  private async send(target: ServiceTarget, call: Parameters<UpstreamClient['call']>[0]): Promise<UpstreamResponse> {
    try {
      return await this.upstream.call(call)
    } catch (err) {
      if (!(err instanceof UpstreamError)) this.resolver.forget(target)
      throw err
    }
  }

  private async token(iss: DidString, aud: DidString, lxm: string): Promise<string> {
    return createServiceJwt({ iss, aud, lxm, keypair: await this.signingKey(iss) })
  }
}

/** JSON as lex values (blob refs, CID links, bytes), as xrpc-server expects a handler's body. */
export const parseJson = (bytes: Buffer): LexValue => {
  try {
    return lexParse(bytes.toString('utf8'), { strict: false })
  } catch (err) {
    throw new XRPCError(ResponseType.UpstreamFailure, 'upstream answered with a body that is not JSON', 'UpstreamFailure', { cause: err })
  }
}
