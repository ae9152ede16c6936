import type { IncomingMessage } from 'node:http'
import { parseCid, type Cid } from '@atproto/lex-data'
import { InvalidRequest } from '../../../../errors.ts'

/**
 * The request body exactly as it arrived in JSON (before the XRPC layer
 * converts $link/$bytes/blobs), kept by the raw-JSON middleware so records can
 * be checked strictly against the data model.
 */
export const rawRecord = (req: IncomingMessage): Record<string, unknown> | undefined =>
  (req as IncomingMessage & { rawJson?: Record<string, unknown> }).rawJson

/** swapCommit / swapRecord: undefined = no check; null = must not exist (records only). */
export const parseSwap = (v: unknown): Cid | undefined => {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') {
    // the XRPC layer may already have parsed a cid-format string
    return v as Cid
  }
  try {
    return parseCid(v)
  } catch {
    throw new InvalidRequest(`Invalid CID: ${v}`)
  }
}

export const parseSwapRecord = (body: { swapRecord?: unknown }): Cid | null | undefined => {
  if (!('swapRecord' in body)) return undefined
  if (body.swapRecord === null) return null
  return parseSwap(body.swapRecord)
}
