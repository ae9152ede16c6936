import { AtUri } from '@atproto/syntax'

export type RecordRef = { did: string; collection: string; rkey: string }

/** An at:// record URI's parts, or undefined when it is not one (records from the firehose may cite anything). */
export const parseRecordUri = (uri: string): RecordRef | undefined => {
  try {
    const u = new AtUri(uri)
    return u.rkey ? { did: u.hostname, collection: u.collection, rkey: u.rkey } : undefined
  } catch {
    return undefined
  }
}
