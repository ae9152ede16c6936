// DAG-CBOR for the generator's hot loop: common's CborWriter (cborg through
// @atproto/lex-cbor spends ~150 µs a frame sorting keys and building token
// lists; millions of frames need ~10× less). The caller writes map keys in
// canonical DAG-CBOR order itself (shorter first, then bytewise) — the app
// view's strict reader rejects anything else, which is the check.
import crypto from 'node:crypto'
import { CidRef } from '@atsuite/common/dag-cbor'

export { CborWriter } from '@atsuite/common/dag-cbor-encode'

const CID_PREFIX = Buffer.from([0x01, 0x71, 0x12, 0x20])

export const sha256 = (b: Uint8Array): Buffer => crypto.hash('sha256', b, 'buffer')

/** CIDv1 dag-cbor sha-256 bytes (36) of a block. */
export const cidBytes = (block: Uint8Array): Buffer => Buffer.concat([CID_PREFIX, sha256(block)])
export const cidFromDigest = (digest: Uint8Array): Buffer => Buffer.concat([CID_PREFIX, digest])
export const cidString = (cid: Uint8Array): string => new CidRef(cid).toString()
