import { parseCid } from '@atproto/lex-data'

export class DataModelError extends Error {}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * Checks that a JSON value is valid atproto data model (JSON form), whether or
 * not a lexicon is known for it: integers only (no floats), `$link` objects
 * holding exactly one valid CID string, `$bytes` objects holding exactly one
 * base64 string, `$type` a non-empty string, blobs complete. Always run on the
 * raw request JSON before any conversion, so nothing lossy slips through.
 */
export const assertDataModelJson = (value: unknown, path = 'record', depth = 0): void => {
  if (depth > 64) throw new DataModelError(`${path}: nesting too deep`)
  if (value === null || typeof value === 'boolean') return
  if (typeof value === 'string') {
    if (!value.isWellFormed()) throw new DataModelError(`${path}: strings must be valid Unicode (lone surrogate)`)
    return
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new DataModelError(`${path}: numbers must be integers (floats are not allowed in the data model)`)
    }
    return
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => assertDataModelJson(v, `${path}[${i}]`, depth + 1))
    return
  }
  if (typeof value !== 'object') throw new DataModelError(`${path}: unsupported value`)
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj)
  if ('$link' in obj) {
    if (keys.length !== 1) throw new DataModelError(`${path}: a $link object may have no other fields`)
    if (typeof obj.$link !== 'string') throw new DataModelError(`${path}.$link must be a CID string`)
    let version: number
    try {
      version = parseCid(obj.$link).version
    } catch {
      throw new DataModelError(`${path}.$link is not a valid CID`)
    }
    if (version !== 1) throw new DataModelError(`${path}.$link must be a CIDv1`)
    return
  }
  if ('$bytes' in obj) {
    if (keys.length !== 1) throw new DataModelError(`${path}: a $bytes object may have no other fields`)
    if (typeof obj.$bytes !== 'string' || !BASE64_RE.test(obj.$bytes)) {
      throw new DataModelError(`${path}.$bytes must be a base64 string`)
    }
    return
  }
  if ('$type' in obj) {
    if (typeof obj.$type !== 'string' || obj.$type.length === 0) {
      throw new DataModelError(`${path}.$type must be a non-empty string`)
    }
    if (obj.$type === 'blob') assertBlobJson(obj, path)
  }
  for (const k of keys) {
    if (!k.isWellFormed()) throw new DataModelError(`${path}: keys must be valid Unicode`)
    assertDataModelJson(obj[k], `${path}.${k}`, depth + 1)
  }
}

const assertBlobJson = (obj: Record<string, unknown>, path: string): void => {
  const ref = obj.ref as Record<string, unknown> | undefined
  if (!ref || typeof ref !== 'object' || typeof ref.$link !== 'string') {
    throw new DataModelError(`${path}: blob needs ref: {$link}`)
  }
  if (typeof obj.mimeType !== 'string' || obj.mimeType.length === 0) {
    throw new DataModelError(`${path}: blob needs a mimeType string`)
  }
  if (typeof obj.size !== 'number' || !Number.isSafeInteger(obj.size) || obj.size < 0) {
    throw new DataModelError(`${path}: blob size must be a non-negative integer`)
  }
}
