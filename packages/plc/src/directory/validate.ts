import { parseDidKey, verifySignature } from '@atproto/crypto'
import { encode as cborEncode } from '@atproto/lex-cbor'
import { parseCidSafe } from '@atproto/lex-data'
import {
  GenesisHashError,
  ImproperlyFormattedDidError,
  ImproperOperationError,
  InvalidSignatureError,
  LateRecoveryError,
  MisorderedOperationError,
  PlcError,
  UnsupportedKeyError,
  def,
  type OpOrTombstone,
} from '@did-plc/lib'
import { InvalidOperationError } from './errors.ts'

// Checks on an incoming operation that do not depend on the DID's log. The
// rules that do (prev, signer, nullification, genesis hash) are
// @did-plc/lib's assureValidNextOp; directory.ts runs both.

/** did:plc: followed by exactly 24 base32 (lowercase, RFC 4648) characters. */
const PLC_DID_RE = /^did:plc:[a-z2-7]{24}$/

/** Limits plc.directory also enforces, so ops accepted here are accepted there. */
export const LIMITS = {
  opBytes: 4000, // dag-cbor encoding of the whole signed op
  alsoKnownAsEntries: 10,
  alsoKnownAsLength: 258, // longest handle (253) + 'at://'
  verificationMethodEntries: 10,
  serviceEntries: 10,
  idLength: 32, // service and verification-method ids
  serviceTypeLength: 96,
  serviceEndpointLength: 256,
} as const

/** A compact (r‖s) ECDSA signature, base64url without padding: 64 bytes = 86 chars. */
const SIG_RE = /^[A-Za-z0-9_-]{86}$/

export const isPlcDid = (did: string): boolean => PLC_DID_RE.test(did)

export const assurePlcDid = (did: string): void => {
  if (!isPlcDid(did)) {
    throw new InvalidOperationError(
      'InvalidDid',
      `Not a did:plc identifier (did:plc: and 24 base32 characters): ${did.slice(0, 100)}`,
    )
  }
}

const fail = (message: string): never => {
  throw new InvalidOperationError('InvalidOperation', message)
}

/**
 * Parses a request body into a signed `plc_operation` or `plc_tombstone`.
 * Always checks: JSON shape, unknown fields (dropped, so the stored op and its
 * CID are exactly what was validated), plc.directory's size limits, key
 * syntax, `prev` is a canonical dag-cbor CID string, `sig` is base64url of 64
 * bytes. Never checks anything that needs the DID's log. Legacy `create` ops
 * are refused: they only exist in logs imported from the early network.
 */
export const parseIncomingOp = (input: unknown): OpOrTombstone => {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail('Operation must be a JSON object')
  }
  const type = (input as Record<string, unknown>).type
  let op: OpOrTombstone
  if (type === 'plc_operation') {
    op = parseWith(def.operation, input)
  } else if (type === 'plc_tombstone') {
    op = parseWith(def.tombstone, input)
  } else if (type === 'create') {
    return fail('Legacy "create" operations are not accepted; use a signed plc_operation')
  } else {
    return fail(`Unknown operation type: ${JSON.stringify(type)?.slice(0, 100)}`)
  }

  if (!SIG_RE.test(op.sig)) {
    fail('sig must be a base64url (unpadded) compact 64-byte signature')
  }
  if (op.prev !== null) {
    const cid = parseCidSafe(op.prev, { flavor: 'cbor' })
    if (!cid || cid.toString() !== op.prev) {
      fail('prev must be the base32 CIDv1 (dag-cbor, sha256) of an earlier operation')
    }
  }
  const bytes = cborEncode(op).byteLength
  if (bytes > LIMITS.opBytes) {
    fail(`Operation too large: ${bytes} bytes encoded (max ${LIMITS.opBytes})`)
  }
  if (op.type === 'plc_operation') checkLimits(op)
  return op
}

type Parser<T> = {
  safeParse(input: unknown):
    | { success: true; data: T }
    | { success: false; error: { issues: { path: (string | number)[]; message: string }[] } }
}

const parseWith = <T>(schema: Parser<T>, input: unknown): T => {
  const res = schema.safeParse(input)
  if (res.success) return res.data
  const issues = res.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
  return fail(`Invalid operation: ${issues.join('; ')}`)
}

const checkLimits = (op: Extract<OpOrTombstone, { type: 'plc_operation' }>): void => {
  if (op.alsoKnownAs.length > LIMITS.alsoKnownAsEntries) {
    fail(`Too many alsoKnownAs entries (max ${LIMITS.alsoKnownAsEntries})`)
  }
  const seen = new Set<string>()
  for (const aka of op.alsoKnownAs) {
    if (aka.length > LIMITS.alsoKnownAsLength) {
      fail(`alsoKnownAs entry too long (max ${LIMITS.alsoKnownAsLength})`)
    }
    if (seen.has(aka)) fail(`Duplicate alsoKnownAs entry: ${aka}`)
    seen.add(aka)
  }
  const services = Object.entries(op.services)
  if (services.length > LIMITS.serviceEntries) {
    fail(`Too many services (max ${LIMITS.serviceEntries})`)
  }
  for (const [id, service] of services) {
    if (id.length === 0 || id.length > LIMITS.idLength) {
      fail(`Service id must be 1-${LIMITS.idLength} characters`)
    }
    if (service.type.length > LIMITS.serviceTypeLength) {
      fail(`Service type too long (max ${LIMITS.serviceTypeLength})`)
    }
    if (service.endpoint.length > LIMITS.serviceEndpointLength) {
      fail(`Service endpoint too long (max ${LIMITS.serviceEndpointLength})`)
    }
  }
  const methods = Object.entries(op.verificationMethods)
  if (methods.length > LIMITS.verificationMethodEntries) {
    fail(`Too many verificationMethods (max ${LIMITS.verificationMethodEntries})`)
  }
  for (const [id, key] of methods) {
    if (id.length === 0 || id.length > LIMITS.idLength) {
      fail(`Verification method id must be 1-${LIMITS.idLength} characters`)
    }
    assureParsableKey(key, 'verificationMethods')
  }
  for (const key of op.rotationKeys) assureParsableKey(key, 'rotationKeys')
}

// @did-plc/lib parses keys with its own (older) @atproto/crypto; the DID
// document is rendered with the current one, so a key must satisfy both.
const assureParsableKey = (key: string, field: string): void => {
  try {
    parseDidKey(key)
  } catch {
    fail(`Invalid or unsupported did:key in ${field}: ${key.slice(0, 100)}`)
  }
}

/**
 * Verifies `op.sig` strictly (compact encoding, low-S) against `keys`.
 * @did-plc/lib 0.0.4 accepts high-S P-256 and DER secp256k1 signatures, which
 * would let anyone re-encode someone else's op into a second valid op with a
 * different CID; run this after the lib's check, with the keys it allowed.
 */
export const assureStrictSig = async (op: OpOrTombstone, keys: string[]): Promise<void> => {
  const { sig, ...unsigned } = op
  const data = cborEncode(unsigned)
  const sigBytes = new Uint8Array(Buffer.from(sig, 'base64url'))
  for (const key of keys) {
    try {
      if (await verifySignature(key, data, sigBytes)) return
    } catch {
      // unsupported key: try the next one
    }
  }
  throw new InvalidOperationError(
    'InvalidSignature',
    'Signature is not a canonical (compact, low-S) signature by an allowed rotation key',
  )
}

/**
 * Turns what @did-plc/lib throws into an InvalidOperationError: its PlcErrors
 * by class, anything else (CID or base64 parsing deep inside the lib) as a
 * generic invalid operation. Validation never produces a 500.
 */
export const fromLibError = (err: unknown): InvalidOperationError => {
  if (err instanceof InvalidOperationError) return err
  const opts = { cause: err }
  if (err instanceof InvalidSignatureError) {
    return new InvalidOperationError(
      'InvalidSignature',
      'Invalid signature: not signed by an allowed rotation key',
      opts,
    )
  }
  if (err instanceof MisorderedOperationError) {
    return new InvalidOperationError(
      'MisorderedOperation',
      'Operations not correctly ordered: prev is not an operation in the current log (or follows a tombstone)',
      opts,
    )
  }
  if (err instanceof LateRecoveryError) {
    return new InvalidOperationError('LateRecovery', err.message, opts)
  }
  if (err instanceof GenesisHashError) {
    return new InvalidOperationError(
      'GenesisHashMismatch',
      `Hash of genesis operation does not match the DID (expected ${err.expected.slice(0, 32)})`,
      opts,
    )
  }
  if (err instanceof UnsupportedKeyError) {
    return new InvalidOperationError('UnsupportedKey', `Unsupported key: ${err.key.slice(0, 100)}`, opts)
  }
  if (err instanceof ImproperOperationError) {
    return new InvalidOperationError('ImproperOperation', `Improperly formatted operation: ${err.reason}`, opts)
  }
  if (err instanceof ImproperlyFormattedDidError) {
    return new InvalidOperationError('InvalidDid', err.message, opts)
  }
  if (PlcError.is(err)) {
    return new InvalidOperationError('InvalidOperation', err.message, opts)
  }
  const message = err instanceof Error ? err.message : String(err)
  return new InvalidOperationError('InvalidOperation', `Invalid operation: ${message}`, opts)
}
