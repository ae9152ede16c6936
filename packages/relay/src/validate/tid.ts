// TIDs (repo revs): 13 chars of base32-sortable; the first 11 encode
// microseconds since the epoch, the last 2 a clock id. Revs compare as strings.

const ALPHABET = '234567abcdefghijklmnopqrstuvwxyz'
const TID_RE = /^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$/

const VALUES = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i

export const isTid = (s: unknown): s is string => typeof s === 'string' && TID_RE.test(s)

/** Milliseconds since the epoch encoded in a (valid) TID. */
export const tidTimestampMs = (tid: string): number => {
  let micros = 0
  for (let i = 0; i < 11; i++) micros = micros * 32 + VALUES[tid.charCodeAt(i)]
  return micros / 1000
}
