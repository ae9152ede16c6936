import { TID } from '@atproto/common'
import { encodeCbor } from '@atsuite/common/dag-cbor-encode'
import { parseCid, type Cid } from '@atproto/lex-data'
import { BlobRef, jsonToLex, lexToIpld, type LexUserType } from '@atproto/lexicon'
import {
  ensureValidNsid,
  ensureValidRecordKey,
  isDatetimeString,
  isValidTid,
  type AtUriString,
  type DidString,
  type NsidString,
} from '@atproto/syntax'
import { lexicons } from '@atsuite/lexicon/docs'
import { InvalidRecordError, InvalidRequest, PayloadTooLargeErr } from '../errors.ts'
import { assertDataModelJson, DataModelError } from './data-model.ts'
import { cborCid } from './car.ts'

export type ValidationStatus = 'valid' | 'unknown' | undefined

export type PreparedBlobRef = {
  cid: string
  mimeType: string
  size: number
  accept?: string[]
  maxSize?: number
}

type PreparedRecordWrite = {
  collection: NsidString
  rkey: string
  uri: AtUriString
  cid: Cid
  /** the record's DAG-CBOR block (what `cid` is the hash of) */
  bytes: Uint8Array
  blobs: PreparedBlobRef[]
  validationStatus: ValidationStatus
  /** undefined: no check; null: must not exist; Cid: current must equal */
  swapCid?: Cid | null
}
export type PreparedCreate = PreparedRecordWrite & { action: 'create' }
export type PreparedUpdate = PreparedRecordWrite & { action: 'update' }
export type PreparedDelete = {
  action: 'delete'
  collection: NsidString
  rkey: string
  uri: AtUriString
  swapCid?: Cid | null
}
export type PreparedWrite = PreparedCreate | PreparedUpdate | PreparedDelete

export const atUri = (did: DidString, collection: NsidString, rkey: string): AtUriString =>
  `at://${did}/${collection}/${rkey}`

export function assertCollection(collection: string): asserts collection is NsidString {
  try {
    ensureValidNsid(collection)
  } catch {
    throw new InvalidRequest(`Invalid collection: ${JSON.stringify(collection)} is not an NSID`)
  }
}

const assertRkey = (rkey: string): void => {
  try {
    ensureValidRecordKey(rkey)
  } catch {
    throw new InvalidRequest(`Invalid record key: ${JSON.stringify(rkey)}`)
  }
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

type RecordOpts = {
  did: DidString
  collection: string
  rkey?: string
  /**
   * The record exactly as it arrived in JSON (`rawRecord(req)`), not as the
   * XRPC layer converted it: it is checked strictly against the data model,
   * then converted here with @atproto/lexicon's `jsonToLex` (BlobRefs, CIDs,
   * bytes), the form that library's record validation expects.
   */
  record: unknown
  validate?: boolean
  swapCid?: Cid | null
}

/** The largest record (as JSON) a write takes: what the network's relays and app views carry. */
export const MAX_RECORD_JSON_BYTES = 1_000_000

const prepareRecord = async (opts: RecordOpts): Promise<PreparedRecordWrite> => {
  const { did, collection, validate } = opts
  assertCollection(collection)
  const jsonBytes = Buffer.byteLength(JSON.stringify(opts.record) ?? '')
  if (jsonBytes > MAX_RECORD_JSON_BYTES) {
    throw new PayloadTooLargeErr(
      `Record is ${jsonBytes.toLocaleString('en')} bytes of JSON; the limit is ${MAX_RECORD_JSON_BYTES.toLocaleString('en')} (store large data as a blob and reference it)`,
    )
  }
  try {
    assertDataModelJson(opts.record)
  } catch (err) {
    if (err instanceof DataModelError) throw new InvalidRecordError(err.message)
    throw err
  }
  const lex = jsonToLex(opts.record)
  if (!isMap(lex)) throw new InvalidRecordError('record must be an object')
  const record = { ...lex }
  if (record.$type === undefined) record.$type = collection
  if (record.$type !== collection) {
    throw new InvalidRecordError(`Invalid $type: expected ${collection}, got ${String(record.$type)}`)
  }

  const def = lexicons.getDef(collection)
  const recordDef = def && def.type === 'record' ? def : undefined
  let validationStatus: ValidationStatus
  if (validate === false) {
    validationStatus = undefined
  } else if (!recordDef) {
    if (validate === true) {
      throw new InvalidRequest(`Lexicon not found: lex:${collection}`, 'InvalidRequest')
    }
    validationStatus = 'unknown'
  } else {
    try {
      lexicons.assertValidRecord(collection, record)
    } catch (err) {
      throw new InvalidRecordError(`Invalid ${collection} record: ${(err as Error).message}`)
    }
    validationStatus = 'valid'
  }

  let rkey = opts.rkey
  if (rkey === undefined || rkey === '') {
    rkey = recordDef?.key === 'literal:self' ? 'self' : TID.nextStr()
  }
  assertRkey(rkey)
  if (recordDef && validate !== false) assertRkeyMatchesSchema(collection, recordDef.key, rkey)

  const blobs = recordDef
    ? findBlobs(collection, recordDef, record, validationStatus === 'valid')
    : findBlobsUntyped(record)
  const ipld = lexToIpld(record) as Record<string, unknown>
  let cid: Cid
  let bytes: Uint8Array
  try {
    bytes = encodeCbor(ipld)
    cid = cborCid(bytes)
  } catch (err) {
    throw new InvalidRecordError(`record cannot be encoded: ${(err as Error).message}`)
  }
  return {
    collection,
    rkey,
    uri: atUri(did, collection, rkey),
    cid,
    bytes,
    blobs,
    validationStatus,
    swapCid: opts.swapCid,
  }
}

const assertRkeyMatchesSchema = (collection: string, key: string | undefined, rkey: string): void => {
  if (!key || key === 'any') return
  if (key === 'tid' && !isValidTid(rkey)) {
    throw new InvalidRecordError(`Invalid record key for ${collection}: must be a TID, got "${rkey}"`)
  }
  if (key === 'nsid') {
    try {
      ensureValidNsid(rkey)
    } catch {
      throw new InvalidRecordError(`Invalid record key for ${collection}: must be an NSID, got "${rkey}"`)
    }
  }
  if (key.startsWith('literal:') && rkey !== key.slice('literal:'.length)) {
    throw new InvalidRecordError(
      `Invalid record key for ${collection}: must be "${key.slice('literal:'.length)}", got "${rkey}"`,
    )
  }
}

export const prepareCreate = async (opts: RecordOpts): Promise<PreparedCreate> => ({
  action: 'create',
  ...(await prepareRecord(opts)),
})

export const prepareUpdate = async (opts: RecordOpts & { rkey: string }): Promise<PreparedUpdate> => ({
  action: 'update',
  ...(await prepareRecord(opts)),
})

export const prepareDelete = (opts: {
  did: DidString
  collection: string
  rkey: string
  swapCid?: Cid | null
}): PreparedDelete => {
  assertCollection(opts.collection)
  assertRkey(opts.rkey)
  return {
    action: 'delete',
    collection: opts.collection,
    rkey: opts.rkey,
    uri: atUri(opts.did, opts.collection, opts.rkey),
    swapCid: opts.swapCid,
  }
}

// Blob references (and, for validated records, strict string formats), with the constraints (accept, maxSize) their lexicon field
// declares. Walks the value and its schema together; unknown parts of a record
// (open unions with unknown $types, `unknown` fields) still yield their blobs,
// without constraints.

// refs in loaded lexicons are normalised to `lex:nsid[#name]`; $types are bare
const defUri = (ref: string, context: string): string => {
  const bare = ref.startsWith('lex:') ? ref.slice(4) : ref
  const full = bare.startsWith('#') ? `${context}${bare}` : bare
  return full.includes('#') ? full : `${full}#main`
}

const getDef = (uri: string): LexUserType | undefined => lexicons.getDef(`lex:${uri}`)

const findBlobs = (
  collection: string,
  def: LexUserType,
  record: Record<string, unknown>,
  checkFormats: boolean,
): PreparedBlobRef[] => {
  const out: PreparedBlobRef[] = []
  const seen = new Set<unknown>()
  const walk = (value: unknown, schema: unknown, context: string, depth: number): void => {
    if (value === null || value === undefined || depth > 32) return
    const s = schema as { type?: string; [k: string]: unknown } | undefined
    if (!s || !s.type) {
      collectUntyped(value, out, seen, depth)
      return
    }
    switch (s.type) {
      case 'record':
        walk(value, s.record, context, depth + 1)
        return
      case 'object': {
        if (typeof value !== 'object') return
        const props = (s.properties ?? {}) as Record<string, unknown>
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          walk(v, props[k], context, depth + 1)
        }
        return
      }
      case 'array':
        if (Array.isArray(value)) for (const v of value) walk(v, s.items, context, depth + 1)
        return
      case 'ref': {
        const uri = defUri(s.ref as string, context)
        walk(value, getDef(uri), uri.split('#')[0], depth + 1)
        return
      }
      case 'union': {
        const t = (value as { $type?: unknown }).$type
        if (typeof t !== 'string') return collectUntyped(value, out, seen, depth)
        const uri = defUri(t, context)
        const d = getDef(uri)
        if (d) walk(value, d, uri.split('#')[0], depth + 1)
        else collectUntyped(value, out, seen, depth)
        return
      }
      case 'blob': {
        if (value instanceof BlobRef && !seen.has(value)) {
          seen.add(value)
          out.push({
            cid: value.ref.toString(),
            mimeType: value.mimeType,
            size: value.size,
            accept: s.accept as string[] | undefined,
            maxSize: s.maxSize as number | undefined,
          })
        }
        return
      }
      case 'unknown':
        collectUntyped(value, out, seen, depth)
        return
      case 'string':
        if (checkFormats && typeof value === 'string' && typeof s.format === 'string') assertStrictFormat(s.format, value)
        return
      default:
        return
    }
  }
  walk(record, def, collection, 0)
  return out
}

const LANGUAGE_RE = /^(?:[a-z]{2,3}|i|[xX])(?:-[A-Za-z0-9]{1,8})*$/
const URI_RE = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/
const MAX_URI_LENGTH = 8192

/**
 * Where the lexicon library is lenient on purpose (datetimes without a
 * timezone, 4-letter language tags, CIDv0, unbounded URIs), records written
 * here follow the spec and the interop vectors strictly.
 */
const assertStrictFormat = (format: string, value: string): void => {
  const fail = (what: string) => {
    throw new InvalidRecordError(`Invalid ${what}: ${JSON.stringify(value.slice(0, 100))}`)
  }
  switch (format) {
    case 'datetime':
      if (!isDatetimeString(value)) fail('datetime (RFC 3339 with timezone required)')
      return
    case 'language':
      if (!LANGUAGE_RE.test(value)) fail('language tag')
      return
    case 'uri':
      if (value.length > MAX_URI_LENGTH || !URI_RE.test(value)) fail('URI')
      return
    case 'cid':
      try {
        if (parseCid(value).version !== 1) fail('CID (CIDv1 required)')
      } catch (err) {
        if (err instanceof InvalidRecordError) throw err
        fail('CID')
      }
      return
    default:
      return
  }
}

const collectUntyped = (value: unknown, out: PreparedBlobRef[], seen: Set<unknown>, depth: number): void => {
  if (value === null || typeof value !== 'object' || depth > 64) return
  if (value instanceof BlobRef) {
    if (!seen.has(value)) {
      seen.add(value)
      out.push({ cid: value.ref.toString(), mimeType: value.mimeType, size: value.size })
    }
    return
  }
  if (value instanceof Uint8Array) return
  for (const v of Array.isArray(value) ? value : Object.values(value)) collectUntyped(v, out, seen, depth + 1)
}

const findBlobsUntyped = (record: Record<string, unknown>): PreparedBlobRef[] => {
  const out: PreparedBlobRef[] = []
  collectUntyped(record, out, new Set(), 0)
  return out
}

export const mimeAccepted = (mimeType: string, accept: string[] | undefined): boolean => {
  if (!accept || accept.length === 0) return true
  return accept.some((a) => a === '*/*' || a === mimeType || (a.endsWith('/*') && mimeType.startsWith(a.slice(0, -1))))
}
