import type { IncomingMessage } from 'node:http'
import { parseCid, type Cid } from '@atproto/lex-data'
import { InvalidRequest } from '../../../../errors.ts'

const isJsonObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

const child = (v: unknown, key: string | number): unknown => {
  if (typeof key === 'number') return Array.isArray(v) ? v[key] : undefined
  return isJsonObject(v) && Object.hasOwn(v, key) ? v[key] : undefined
}

/**
 * The value at `path` in the request body exactly as it arrived in JSON
 * (before the XRPC layer converts $link/$bytes/blobs), kept by the raw-JSON
 * middleware so records can be checked strictly against the data model.
 * `rawRecord(req, 'writes', 2, 'value')` is the third write's record.
 */
export const rawRecord = (req: IncomingMessage, ...path: (string | number)[]): unknown =>
  path.reduce(child, 'rawJson' in req ? req.rawJson : undefined)

/** swapCommit / swapRecord: undefined = no check (the lexicon has already checked the CID syntax). */
export const parseSwap = (v: string | undefined): Cid | undefined => {
  if (v === undefined) return undefined
  try {
    return parseCid(v)
  } catch {
    throw new InvalidRequest(`Invalid CID: ${v}`)
  }
}

/** swapRecord: undefined = no check; null = the record must not exist. */
export const parseSwapRecord = (v: string | null | undefined): Cid | null | undefined =>
  v === null ? null : parseSwap(v)
