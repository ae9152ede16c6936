import { Readable } from 'node:stream'
import { ResponseType, XRPCError } from '@atproto/xrpc-server'
import { proxyLogger as log } from '../logger.ts'

export type UpstreamCall = {
  /** the full URL: the service's endpoint, `/xrpc/<nsid>` and the client's query */
  url: string
  method: 'GET' | 'HEAD' | 'POST'
  headers: Record<string, string>
  /** the client's request body, streamed as it arrives */
  body?: Readable
  /** aborted when the client goes away */
  signal?: AbortSignal
}

export type UpstreamResponse = {
  status: number
  /** the upstream's headers that are passed on to the client */
  headers: Record<string, string>
  body: Readable
}

/** Response headers passed on, besides the content ones (the reference PDS's list). */
const FORWARDED_RESPONSE_HEADERS = ['atproto-repo-rev', 'atproto-content-labelers', 'retry-after']
/** An error body is read for its `error` and `message`, never more than this. */
const MAX_ERROR_BYTES = 64 * 1024

/**
 * An upstream's 4xx/5xx as the client sees it: the upstream's status and
 * XRPC error name and message (a 500 becomes 502 UpstreamFailure, as the
 * reference PDS does: the failure is not ours, and a 500's message would be
 * hidden), with its forwarded headers (`retry-after`, `atproto-repo-rev`).
 */
export class UpstreamError extends XRPCError {
  readonly upstreamStatus: number
  readonly headers: Record<string, string>

  constructor(status: number, body: { error?: string; message?: string }, headers: Record<string, string>) {
    const type = status === 500 ? ResponseType.UpstreamFailure : status
    const name = body.error ?? (status >= 500 ? 'UpstreamFailure' : 'InvalidRequest')
    super(type, body.message ?? `upstream answered ${status}`, name)
    this.upstreamStatus = status
    this.headers = headers
  }
}

/**
 * Calls a service for a forwarded XRPC request: streams the request body up
 * and hands back the response body as a stream. Asks for an uncompressed
 * answer (a compressed one is decoded by fetch, so content-encoding and
 * content-length are then dropped). Fails with 504 UpstreamTimeout when no
 * status arrives within the headers timeout, 502 UpstreamFailure when the
 * service cannot be reached, and UpstreamError for its 4xx/5xx. Redirects
 * are not followed.
 */
export class UpstreamClient {
  private readonly headersTimeoutMs: number

  constructor(opts: { headersTimeoutMs: number }) {
    this.headersTimeoutMs = opts.headersTimeoutMs
  }

  async call(c: UpstreamCall): Promise<UpstreamResponse> {
    const timeout = new AbortController()
    const timer = setTimeout(() => timeout.abort(), this.headersTimeoutMs)
    const signal = c.signal ? AbortSignal.any([timeout.signal, c.signal]) : timeout.signal
    let res: Response
    try {
      res = await fetch(c.url, {
        method: c.method,
        headers: { ...c.headers, 'accept-encoding': 'identity' },
        redirect: 'error',
        signal,
        ...(c.body ? { body: Readable.toWeb(c.body), duplex: 'half' as const } : {}),
      })
    } catch (err) {
      if (timeout.signal.aborted) {
        throw new XRPCError(ResponseType.UpstreamTimeout, 'upstream service timed out', 'UpstreamTimeout', { cause: err })
      }
      log.info({ err, url: c.url }, 'upstream unreachable')
      throw new XRPCError(ResponseType.UpstreamFailure, 'upstream service unreachable', 'UpstreamFailure', { cause: err })
    } finally {
      clearTimeout(timer)
    }
    const headers = responseHeaders(res.headers)
    const body = res.body ? Readable.fromWeb(res.body) : Readable.from([])
    if (res.status >= 400) {
      throw new UpstreamError(res.status, await errorBody(res.headers.get('content-type'), body), forwardedHeaders(res.headers))
    }
    if (res.status < 200 || res.status >= 300) {
      body.destroy()
      throw new XRPCError(ResponseType.UpstreamFailure, `upstream answered ${res.status}`, 'UpstreamFailure')
    }
    return { status: res.status, headers, body }
  }
}

/** Reads a whole (small) body; more than `max` bytes is the upstream's failure. */
export const readBody = async (body: Readable, max: number): Promise<Buffer> => {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)
    size += buf.length
    if (size > max) {
      body.destroy()
      throw new XRPCError(ResponseType.UpstreamFailure, `upstream answer is larger than ${max} bytes`, 'UpstreamFailure')
    }
    chunks.push(buf)
  }
  return Buffer.concat(chunks)
}

const forwardedHeaders = (h: Headers): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const v = h.get(name)
    if (v !== null) out[name] = v
  }
  return out
}

const responseHeaders = (h: Headers): Record<string, string> => {
  const out = forwardedHeaders(h)
  const type = h.get('content-type')
  if (type) out['content-type'] = type
  const language = h.get('content-language')
  if (language) out['content-language'] = language
  const length = h.get('content-length')
  if (length && !h.get('content-encoding')) out['content-length'] = length
  return out
}

/** `error` and `message` of a JSON error body; nothing when it is not one (the body is then drained). */
const errorBody = async (contentType: string | null, body: Readable): Promise<{ error?: string; message?: string }> => {
  if (!contentType || !/application\/(?:\w+\+)?json/i.test(contentType)) {
    body.resume()
    return {}
  }
  try {
    const parsed: unknown = JSON.parse((await readBody(body, MAX_ERROR_BYTES)).toString('utf8'))
    if (typeof parsed !== 'object' || parsed === null) return {}
    const error = 'error' in parsed && typeof parsed.error === 'string' ? parsed.error : undefined
    const message = 'message' in parsed && typeof parsed.message === 'string' ? parsed.message : undefined
    return { ...(error !== undefined ? { error } : {}), ...(message !== undefined ? { message } : {}) }
  } catch {
    return {}
  }
}
