import { cidKey, decodeFrame, parseCar, type LogRow } from '@atsuite/common'
import { CidRef, decodeCbor, type CborValue } from '@atsuite/common/dag-cbor'

/**
 * The relay's log rows as Jetstream events: JSON, one event per commit op
 * (`kind: commit`, with the record for creates and updates), `identity`
 * and `account` events; `#sync` and unknown types have no Jetstream form.
 * `time_us` is the row's sequencing time in microseconds, strictly
 * increasing along the log (EventLog.timeUs), and is what cursors name.
 */

/** One event ready to send: its JSON text, and what filters look at. */
export type JetstreamEvent = {
  did: string
  /** the commit op's collection; undefined for identity/account */
  collection?: string
  /** the JSON text, UTF-8 encoded once for every subscriber */
  bytes: Buffer
}

/** atproto data model → JSON (CIDs as {$link}, bytes as {$bytes}, base64 without padding). */
const toJson = (v: CborValue): unknown => {
  if (v instanceof CidRef) return { $link: v.toString() }
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64').replace(/=+$/, '') }
  if (Array.isArray(v)) return v.map(toJson)
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) out[k] = toJson(x)
    return out
  }
  return v
}

const timeUsOf = (row: LogRow): number => row.timeUs ?? Date.parse(row.sequencedAt) * 1000

/** The Jetstream events of one log row (none for #sync, #info and undecodable rows). */
export const jetstreamEvents = (row: LogRow): JetstreamEvent[] => {
  let frame
  try {
    frame = decodeFrame(row.frame)
  } catch {
    return []
  }
  if (frame.op !== 1) return []
  const body = frame.body as Record<string, CborValue>
  const time_us = timeUsOf(row)
  const did = row.did
  switch (frame.type) {
    case '#commit': {
      const ops = body.ops as { action: string; path: string; cid: CidRef | null }[] | undefined
      if (!Array.isArray(ops) || !(body.blocks instanceof Uint8Array)) return []
      let blocks: Map<string, Uint8Array> | undefined
      const out: JetstreamEvent[] = []
      for (const op of ops) {
        const slash = op.path.indexOf('/')
        const collection = op.path.slice(0, slash)
        const rkey = op.path.slice(slash + 1)
        const commit: Record<string, unknown> = { rev: body.rev, operation: op.action, collection, rkey }
        if (op.action !== 'delete' && op.cid) {
          // the relay verified these blocks when the commit came in
          blocks ??= parseCar(body.blocks, undefined, { verified: true }).blocks
          const bytes = blocks.get(cidKey(op.cid))
          if (!bytes) continue // the relay verified the commit: a create/update always carries its record
          commit.record = toJson(decodeCbor(bytes))
          commit.cid = op.cid.toString()
        }
        out.push({ did, collection, bytes: Buffer.from(JSON.stringify({ did, time_us, kind: 'commit', commit })) })
      }
      return out
    }
    case '#identity': {
      const identity = { ...(toJson(body) as Record<string, unknown>) }
      return [{ did, bytes: Buffer.from(JSON.stringify({ did, time_us, kind: 'identity', identity })) }]
    }
    case '#account': {
      const account = { ...(toJson(body) as Record<string, unknown>) }
      return [{ did, bytes: Buffer.from(JSON.stringify({ did, time_us, kind: 'account', account })) }]
    }
    default:
      return []
  }
}

/**
 * The Jetstream events of recent rows, by seq: a live row is converted once
 * for every subscriber, and subscribers replaying the same stretch of the
 * log share the work. Bounded; oldest out first.
 */
export class EventCache {
  private readonly map = new Map<number, JetstreamEvent[]>()
  private readonly max: number

  constructor(max = 20_000) {
    this.max = max
  }

  get(row: LogRow): JetstreamEvent[] {
    let evts = this.map.get(row.seq)
    if (evts) return evts
    evts = jetstreamEvents(row)
    this.map.set(row.seq, evts)
    if (this.map.size > this.max) {
      const drop = this.map.size - this.max * 0.9
      let n = 0
      for (const k of this.map.keys()) {
        if (n++ >= drop) break
        this.map.delete(k)
      }
    }
    return evts
  }
}
