import { createHash } from 'node:crypto'
import { encode as cborEncode } from '@atproto/lex-cbor'
import { cidForCbor } from '@atproto/lex-data'
import { base32 } from 'multiformats/bases/base32'
import { httpJson } from './http-json.ts'

// did:plc operations as https://web.plc.directory/spec/v0.1/did-plc defines
// them: built, signed and chained here, sent over node:http. The PDS only
// ever writes operations (the directory validates them), and doing it here
// keeps @did-plc/lib (a 1 MB bundle with its own HTTP client and schema
// library, ~12 MiB of RSS) out of the PDS process. tests/plc-ops.test.ts
// holds every function here to @did-plc/lib's byte for byte.

export type PlcService = { type: string; endpoint: string }

/** The document fields an operation sets. */
export type PlcFields = {
  rotationKeys: string[]
  verificationMethods: Record<string, string>
  alsoKnownAs: string[]
  services: Record<string, PlcService>
}

export type UnsignedPlcOp = PlcFields & { type: 'plc_operation'; prev: string | null }
export type PlcOp = UnsignedPlcOp & { sig: string }
/** The legacy genesis format, still found first in old logs. */
export type LegacyCreateOp = { type: 'create'; signingKey: string; recoveryKey: string; handle: string; service: string; prev: null; sig: string }
export type PlcTombstone = { type: 'plc_tombstone'; prev: string; sig: string }
export type AnyPlcOp = PlcOp | LegacyCreateOp | PlcTombstone

/** What `GET /:did/data` answers: the document's current fields. */
export type PlcDocumentData = PlcFields & { did: string }

/** A key that signs operation bytes (a rotation key). */
export type PlcSigner = { sign: (msg: Uint8Array) => Promise<Uint8Array> }

export const ensureAtprotoPrefix = (s: string): string =>
  s.startsWith('at://') ? s : `at://${s.replace('http://', '').replace('https://', '')}`

export const ensureHttpPrefix = (s: string): string => (s.startsWith('http://') || s.startsWith('https://') ? s : `https://${s}`)

/** Signs an operation: `sig` is the base64url signature of its DAG-CBOR encoding without `sig`. */
export const signPlcOp = async <T extends object>(unsigned: T, signer: PlcSigner): Promise<T & { sig: string }> => {
  const sig = await signer.sign(cborEncode(unsigned as never))
  return { ...unsigned, sig: Buffer.from(sig).toString('base64url') }
}

/** A genesis operation's DID: the first 24 base32 characters of the SHA-256 of the signed operation. */
export const didForGenesis = (op: object): string =>
  `did:plc:${base32.baseEncode(createHash('sha256').update(cborEncode(op as never)).digest()).slice(0, 24)}`

/** How the next operation names this one (`prev`): its CID, as a string. */
export const plcOpCid = async (op: object): Promise<string> => (await cidForCbor(cborEncode(op as never))).toString()

/** A signed genesis operation and the DID it creates. */
export const createPlcOp = async (opts: {
  signingKey: string
  handle: string
  pds: string
  rotationKeys: string[]
  signer: PlcSigner
}): Promise<{ did: string; op: PlcOp }> => {
  const op = await signPlcOp<UnsignedPlcOp>(
    {
      type: 'plc_operation',
      verificationMethods: { atproto: opts.signingKey },
      rotationKeys: opts.rotationKeys,
      alsoKnownAs: [ensureAtprotoPrefix(opts.handle)],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: ensureHttpPrefix(opts.pds) } },
      prev: null,
    },
    opts.signer,
  )
  return { did: didForGenesis(op), op }
}

/** The last operation as a current-format one (a legacy genesis converted), `sig` kept. */
export const normalizePlcOp = (op: PlcOp | LegacyCreateOp): PlcOp => {
  if (op.type !== 'create') return op
  return {
    type: 'plc_operation',
    verificationMethods: { atproto: op.signingKey },
    rotationKeys: [op.recoveryKey, op.signingKey],
    alsoKnownAs: [ensureAtprotoPrefix(op.handle)],
    services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: ensureHttpPrefix(op.service) } },
    prev: op.prev,
    sig: op.sig,
  }
}

/**
 * The next operation after `last`: `change` gets the current fields (every
 * field `last` has but its signature) and returns the new ones; `prev` is
 * `last`'s CID.
 */
export const updatePlcOp = async (
  last: PlcOp | LegacyCreateOp,
  signer: PlcSigner,
  change: (current: Omit<PlcOp, 'sig'>) => Omit<UnsignedPlcOp, 'prev'> | Promise<Omit<UnsignedPlcOp, 'prev'>>,
): Promise<PlcOp> => {
  const prev = await plcOpCid(last)
  const { sig: _sig, ...current } = normalizePlcOp(last)
  const next = await change(current)
  return signPlcOp({ ...next, prev }, signer)
}

/** Replaces the first `at://` alias (or adds one in front). */
export const withHandle = (alsoKnownAs: string[], handle: string): string[] => {
  const formatted = ensureAtprotoPrefix(handle)
  const i = alsoKnownAs.findIndex((aka) => aka.startsWith('at://'))
  return i < 0 ? [formatted, ...alsoKnownAs] : [...alsoKnownAs.slice(0, i), formatted, ...alsoKnownAs.slice(i + 1)]
}

/** An answer other than 2xx from the directory: `status` and the directory's own message. */
export class PlcClientError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.name = 'PlcClientError'
    this.status = status
  }
}

/** The directory's HTTP API, for the calls a PDS makes: the last operation, the document data, a new operation. */
export class PlcClient {
  readonly url: string

  constructor(url: string) {
    this.url = url.replace(/\/+$/, '')
  }

  getLastOp(did: string): Promise<AnyPlcOp> {
    return this.request('GET', `/${encodeURIComponent(did)}/log/last`) as Promise<AnyPlcOp>
  }

  getDocumentData(did: string): Promise<PlcDocumentData> {
    return this.request('GET', `/${encodeURIComponent(did)}/data`) as Promise<PlcDocumentData>
  }

  async sendOperation(did: string, op: unknown): Promise<void> {
    await this.request('POST', `/${encodeURIComponent(did)}`, op)
  }

  private async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const res = await httpJson(method, new URL(this.url + path), body)
    if (res.status < 200 || res.status >= 300) {
      const message = (res.json as { message?: unknown } | undefined)?.message
      throw new PlcClientError(res.status, typeof message === 'string' ? message : res.text.slice(0, 200) || `HTTP ${res.status}`)
    }
    if (res.json === undefined && method === 'GET') throw new Error(`PLC directory answered ${method} ${res.url} with no JSON`)
    return res.json
  }
}
