import { decodeAll, encode as cborEncode } from '@atproto/lex-cbor'

// Event-stream framing (atproto event streams): a frame is a DAG-CBOR header
// `{op: 1, t: '#type'}` or `{op: -1}` followed by a DAG-CBOR body.

/** The most a #commit's `blocks` (a CAR) may be: a relay drops larger commits (sync v1.1), so a PDS refuses them. */
export const FIREHOSE_MAX_BLOCKS_BYTES = 2_000_000

const headerCache = new Map<string, Uint8Array>()

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

/** A message frame's header (`{op: 1, t: type}`), encoded once per type. */
export const frameHeader = (type: string): Uint8Array => {
  let header = headerCache.get(type)
  if (!header) {
    header = cborEncode({ op: 1, t: type })
    headerCache.set(type, header)
  }
  return header
}

/** A message frame around a body already encoded as DAG-CBOR. */
export const frameFromBody = (type: string, body: Uint8Array): Uint8Array => concat(frameHeader(type), body)

/** Encodes a message frame; callers encode once and send the bytes to every subscriber. */
export const encodeFrame = (type: string, body: Record<string, unknown>): Uint8Array => frameFromBody(type, cborEncode(body as never))

export const encodeErrorFrame = (error: string, message?: string): Uint8Array =>
  concat(cborEncode({ op: -1 }), cborEncode(message ? { error, message } : { error }))

export type DecodedFrame =
  | { op: 1; type: string; body: Record<string, unknown> }
  | { op: -1; error: string; message?: string }

export class FrameDecodeError extends Error {}

/** Decodes one frame; throws FrameDecodeError on anything malformed. */
export const decodeFrame = (bytes: Uint8Array): DecodedFrame => {
  let parts: unknown[]
  try {
    parts = [...decodeAll(bytes)]
  } catch (err) {
    throw new FrameDecodeError(`invalid DAG-CBOR: ${(err as Error).message}`)
  }
  if (parts.length !== 2) throw new FrameDecodeError(`expected header and body, got ${parts.length} values`)
  const [header, body] = parts as [Record<string, unknown>, Record<string, unknown>]
  if (!header || typeof header !== 'object' || !body || typeof body !== 'object') {
    throw new FrameDecodeError('header and body must be maps')
  }
  if (header.op === -1) {
    return { op: -1, error: String(body.error ?? 'Unknown'), message: typeof body.message === 'string' ? body.message : undefined }
  }
  if (header.op !== 1 || typeof header.t !== 'string') throw new FrameDecodeError('bad frame header')
  return { op: 1, type: header.t, body }
}
