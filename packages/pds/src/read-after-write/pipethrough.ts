import type { Request, Response } from 'express'
import { ResponseType, XRPCError, type HandlerPipeThrough } from '@atproto/xrpc-server'
import type { DidString } from '@atproto/syntax'
import { checkRpcScope } from '../auth/scopes.ts'
import type { AppContext } from '../context.ts'
import type { ProxiedAuth } from '../auth/auth-verifier.ts'
import { readAfterWriteLogger as log } from '../logger.ts'
import { MAX_JSON_BYTES, parseJson } from '../proxy/pipethrough.ts'
import type { ServiceTarget } from '../proxy/service-resolver.ts'
import { asPipeThrough, headerOf, withUpstreamHeaders } from '../proxy/respond.ts'
import { readBody } from '../proxy/upstream.ts'
import { hasLocal, localRecordsSince, upstreamLag, type LocalRecords } from './local-records.ts'
import { LocalViewer } from './local-viewer.ts'

export type MungeFn<T> = (viewer: LocalViewer, body: T, local: LocalRecords) => T | Promise<T>

/** A method's output check: the body typed, or null when it is not what the lexicon says. */
export type OutputCheck<T> = (body: unknown) => T | null

/** A typed lexicon output check from a method's `$output.schema`. */
export const outputCheck =
  <T>(schema: { safeValidate(input: unknown): { success: true; value: T } | { success: false } }): OutputCheck<T> =>
  (body) => {
    const res = schema.safeValidate(body)
    return res.success ? res.value : null
  }

export type Munged<T> = { encoding: 'application/json'; body: T; headers: Record<string, string> }

export type ReadAfterWriteCall<T> = {
  req: Request
  res: Response
  signal: AbortSignal
  auth: ProxiedAuth
  nsid: string
  output: OutputCheck<T>
  /** whether these local records change this method's answer (e.g. only a profile change does for getProfile) */
  wants: (local: LocalRecords) => boolean
  munge: MungeFn<T>
}

const isJson = (type: string | undefined): boolean => type !== undefined && /application\/(?:\w+\+)?json/i.test(type)

/** Where an app.bsky call of a registered route goes: `atproto-proxy`'s service, else the app view. */
export const targetOf = async (ctx: AppContext, req: Request, nsid: string): Promise<ServiceTarget> => {
  const target = await ctx.pipethrough.target(nsid, headerOf(req, 'atproto-proxy'))
  if (!target) throw new XRPCError(ResponseType.MethodNotImplemented, `Method not implemented: ${nsid}`, 'MethodNotImplemented')
  return target
}

/** The user's records newer than `rev`; none when the store cannot be read (the account is going away). */
export const readLocal = (ctx: AppContext, did: DidString, rev: string): LocalRecords => {
  try {
    return ctx.actorStore.read(did, (db) => localRecordsSince(db, rev))
  } catch (err) {
    log.info({ err, did }, 'could not read local records')
    return { profile: null, posts: [] }
  }
}

/** Headers of a merged answer: how far behind the app view was, and the upstream's labelers and rev. */
export const mungedHeaders = (upstream: Record<string, string>, local: LocalRecords): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const name of ['atproto-repo-rev', 'atproto-content-labelers']) {
    const v = upstream[name]
    if (v !== undefined) headers[name] = v
  }
  const lag = upstreamLag(local)
  if (lag !== undefined) headers['atproto-upstream-lag'] = String(lag)
  return headers
}

/**
 * Forwards a read to the app view (the reference's `pipethroughReadAfterWrite`)
 * and, when the user is authenticated, the answer carries the rev the app
 * view has indexed of their repo (`atproto-repo-rev`) and they wrote records
 * since that this method shows, merges those in (`munge`) and says how far
 * behind the app view was (`Atproto-Upstream-Lag`). Otherwise the answer is
 * streamed through untouched. An answer that fails the method's lexicon, or
 * a merge that fails, is passed on as it came.
 */
export const pipethroughReadAfterWrite = async <T>(ctx: AppContext, call: ReadAfterWriteCall<T>): Promise<Munged<T> | HandlerPipeThrough> => {
  const { req, res, auth, nsid } = call
  const target = await targetOf(ctx, req, nsid)
  if (auth.credentials.type === 'access') checkRpcScope(auth.credentials, nsid, `${target.did}#${target.serviceId}`)
  const iss = auth.credentials.type === 'access' ? auth.credentials.did : undefined
  const upstream = await ctx.pipethrough
    .forward(req, target, { nsid, ...(iss ? { iss } : {}), signal: call.signal })
    .catch((err: unknown) => Promise.reject(withUpstreamHeaders(res, err)))
  const rev = upstream.headers['atproto-repo-rev']
  if (!iss || !rev || !isJson(upstream.headers['content-type'])) return asPipeThrough(upstream)
  const local = readLocal(ctx, iss, rev)
  if (!hasLocal(local) || !call.wants(local)) return asPipeThrough(upstream)
  const buffer = await readBody(upstream.body, MAX_JSON_BYTES)
  const { 'content-type': type, 'content-length': _length, ...headers } = upstream.headers
  const asItCame: HandlerPipeThrough = { encoding: type ?? 'application/json', headers, buffer }
  try {
    const body = call.output(parseJson(buffer))
    if (body === null) return asItCame
    const viewer = await LocalViewer.load(ctx, iss, local)
    return { encoding: 'application/json', body: await call.munge(viewer, body, local), headers: mungedHeaders(upstream.headers, local) }
  } catch (err) {
    log.warn({ err, nsid, did: iss }, 'read-after-write merge failed')
    return asItCame
  }
}
