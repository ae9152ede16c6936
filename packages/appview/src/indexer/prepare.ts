import type { LexValue } from '@atproto/lex-data'
import { lexToJson } from '@atproto/lex-json'
import type { AtUriString } from '@atproto/syntax'
import { CborError, decodeCbor } from '@atsuite/common/dag-cbor'
import type { CommitEvent, RecordCheck } from './events.ts'
import { toLex } from './lex.ts'
import { RecordRefusal, type AnyPlugin } from './plugin.ts'
import { plugins } from './plugins/index.ts'

/** A record ready to be written (decoded, checked, in JSON), or why it is refused. */
export type PreparedRecord = { value: LexValue; json: string } | Extract<RecordCheck, { refusal: unknown }>

const decode = (bytes: Uint8Array): LexValue | null => {
  try {
    return toLex(decodeCbor(bytes))
  } catch (err) {
    if (!(err instanceof CborError)) throw err
    return null
  }
}

/**
 * Everything about a record that needs no database: its size, its DAG-CBOR,
 * its lexicon and the collection's own rules (the plugin's `check`), and its
 * JSON encoding.
 */
export const prepareRecord = (plugin: AnyPlugin, uri: AtUriString, bytes: Uint8Array, maxRecordBytes: number): PreparedRecord => {
  if (bytes.length > maxRecordBytes) return { refusal: 'too_big' }
  const value = decode(bytes)
  if (value === null) return { refusal: 'bad_record_cbor' }
  try {
    plugin.check(value, uri)
  } catch (err) {
    if (!(err instanceof RecordRefusal)) throw err
    return { refusal: err.reason }
  }
  return { value, json: JSON.stringify(lexToJson(value)) }
}

/**
 * A record that `checkCommitOps` checked elsewhere: only decoded again here
 * (a decoded value does not cross threads: its CIDs are class instances).
 */
export const preparedFromCheck = (check: RecordCheck, bytes: Uint8Array): PreparedRecord => {
  if ('refusal' in check) return check
  const value = decode(bytes)
  return value === null ? { refusal: 'bad_record_cbor' } : { value, json: check.json }
}

/**
 * Runs on the stream's thread: checks each record a commit creates or
 * updates (see prepareRecord) and notes the outcome on its op, so the
 * indexer's thread, where every statement is written, only decodes the
 * record again and writes it. Lexicon validation was ~7 % of that thread's
 * time.
 */
export const checkCommitOps = (evt: CommitEvent, maxRecordBytes: number): void => {
  for (const op of evt.ops) {
    if (op.action === 'delete' || !op.block) continue
    const plugin = plugins.get(op.collection)
    if (!plugin) continue
    const p = prepareRecord(plugin, `at://${evt.did}/${op.collection}/${op.rkey}`, op.block, maxRecordBytes)
    op.check = 'refusal' in p ? { refusal: p.refusal } : { json: p.json }
  }
}
