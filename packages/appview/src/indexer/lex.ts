import { decodeCid, type LexValue } from '@atproto/lex-data'
import { CidRef, type CborValue } from '@atsuite/common/dag-cbor'

/**
 * A strictly decoded DAG-CBOR value as a lexicon value: links become CIDs
 * (what lexicon validation and the JSON encoder expect); everything else is
 * already the same shape.
 */
export const toLex = (v: CborValue): LexValue => {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v
  if (v instanceof CidRef) return decodeCid(v.bytes)
  if (Array.isArray(v)) return v.map(toLex)
  const out: { [key: string]: LexValue } = {}
  for (const key of Object.keys(v)) out[key] = toLex(v[key]!)
  return out
}
