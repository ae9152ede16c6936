import { Readable } from 'node:stream'
import { describeError } from './errors.ts'
import type { Progress } from './progress.ts'

// Repo CARs between hosts and files: getRepo as a stream, importRepo from a
// stream, bytes counted on the way for the progress bars.

export const trimSlash = (url: string): string => url.replace(/\/+$/, '')

/** An XRPC error response as an error describeError understands. */
export const httpError = async (res: Response): Promise<{ status: number; error?: string; message?: string }> => {
  const text = await res.text().catch(() => '')
  try {
    const body = JSON.parse(text) as { error?: string; message?: string }
    return { status: res.status, error: body.error, message: body.message }
  } catch {
    return { status: res.status, message: text.slice(0, 200) }
  }
}

/** `getRepo` at `pds`, answered 200 with a body; `what` names the call in errors. */
export const fetchRepo = async (pds: string, did: string, what: string): Promise<Response & { body: ReadableStream<Uint8Array> }> => {
  const res = await fetch(`${trimSlash(pds)}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`).catch((err) => {
    throw describeError(err, what)
  })
  if (!res.ok || !res.body) throw describeError(await httpError(res), what)
  return res as Response & { body: ReadableStream<Uint8Array> }
}

/** `source` as it streams on, its bytes counted into `progress`; `bytes()` says how many went by. */
export const countBytes = (source: Readable, progress: Progress): { stream: Readable; bytes: () => number } => {
  let n = 0
  const stream = source.map((chunk: Buffer) => {
    n += chunk.length
    progress.update(n)
    return chunk
  })
  return { stream, bytes: () => n }
}

/** `importRepo` of a CAR stream into the account `accessJwt` belongs to at `service`. */
export const postImport = async (service: string, accessJwt: string, car: Readable, what: string): Promise<void> => {
  const res = await fetch(`${trimSlash(service)}/xrpc/com.atproto.repo.importRepo`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.ipld.car', authorization: `Bearer ${accessJwt}` },
    body: Readable.toWeb(car) as never,
    duplex: 'half',
  } as RequestInit).catch((err) => {
    throw describeError(err, what)
  })
  if (!res.ok) throw describeError(await httpError(res), what)
}
