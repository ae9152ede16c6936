import { pipeline } from 'node:stream/promises'
import type { Request, Response } from 'express'
import type { HandlerPipeThrough } from '@atproto/xrpc-server'
import { proxyLogger as log } from '../logger.ts'
import { UpstreamError, type UpstreamResponse } from './upstream.ts'

/** A single-valued request header, or undefined. */
export const headerOf = (req: Request, name: string): string | undefined => {
  const v = req.headers[name]
  return typeof v === 'string' ? v : undefined
}

/** An AbortSignal that fires when the client goes away before its response is written. */
export const clientGone = (res: Response): AbortSignal => {
  const controller = new AbortController()
  res.once('close', () => {
    if (!res.writableFinished) controller.abort()
  })
  return controller.signal
}

/** Sets an upstream error's forwarded headers (retry-after, …) on the response it becomes. */
export const withUpstreamHeaders = (res: Response, err: unknown): unknown => {
  if (err instanceof UpstreamError && !res.headersSent) for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v)
  return err
}

/** Streams an upstream answer (status, forwarded headers, body) to the client. */
export const sendUpstream = async (res: Response, upstream: UpstreamResponse): Promise<void> => {
  res.status(upstream.status)
  for (const [k, v] of Object.entries(upstream.headers)) res.setHeader(k, v)
  try {
    await pipeline(upstream.body, res)
  } catch (err) {
    // the client left, or the upstream broke off mid-body: nothing more can be said to the client
    log.info({ err }, 'forwarded response cut short')
    res.destroy()
  }
}

/** An upstream answer as a route's pipe-through output (streamed as it arrives, never validated). */
export const asPipeThrough = (upstream: UpstreamResponse): HandlerPipeThrough => {
  const { 'content-type': type, ...headers } = upstream.headers
  return { encoding: type ?? 'application/json', headers, stream: upstream.body }
}
