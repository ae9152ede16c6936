import { IdResolver } from '@atproto/identity'
import { Firehose, MemoryRunner, type Event } from '@atproto/sync'
import { CID } from 'multiformats/cid'

/** JSON for an event: CIDs as {$link}, bytes as {$bytes} (the atproto JSON data model). */
function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // the holder's own value: JSON.stringify has already applied toJSON (a CID's is {"/": …})
  const raw = this[key]
  if (raw instanceof Uint8Array) return { $bytes: Buffer.from(raw).toString('base64') }
  const cid = raw && typeof raw === 'object' ? CID.asCID(raw) : null
  if (cid) return { $link: cid.toString() }
  return value
}

export const eventJson = (evt: Event): string => {
  const out: Record<string, unknown> = { seq: evt.seq, event: evt.event, did: evt.did, time: evt.time }
  for (const [k, v] of Object.entries(evt)) {
    if (k === 'blocks' || k === 'seq' || k === 'event' || k === 'did' || k === 'time') continue
    out[k] = k === 'uri' ? String(v) : v
  }
  return JSON.stringify(out, replacer)
}

/**
 * `atp firehose tail <url>`: a relay's or PDS's subscribeRepos, every commit
 * verified (signature against the DID document, MST inversion) by
 * @atproto/sync, printed as one JSON line per event. Resolves after `limit`
 * events, or on SIGINT/SIGTERM.
 */
export const tail = async (
  url: string,
  opts: { plcUrl: string; collections: string[]; dids: string[]; cursor?: number; limit?: number; write: (line: string) => Promise<void> },
): Promise<number> => {
  let printed = 0
  const runner = new MemoryRunner({ startCursor: opts.cursor, concurrency: 1 })
  let stop!: () => void
  const stopped = new Promise<void>((resolve) => (stop = resolve))
  const firehose = new Firehose({
    service: url.replace(/^http/, 'ws').replace(/\/+$/, ''),
    idResolver: new IdResolver({ plcUrl: opts.plcUrl, fetch: globalThis.fetch }),
    runner,
    handleEvent: async (evt) => {
      if (opts.dids.length > 0 && !opts.dids.includes(evt.did)) return
      if (opts.collections.length > 0 && (!('collection' in evt) || !opts.collections.includes(evt.collection))) return
      if (opts.limit !== undefined && printed >= opts.limit) return
      await opts.write(eventJson(evt))
      printed++
      if (opts.limit !== undefined && printed >= opts.limit) stop()
    },
    onError: (err) => {
      process.stderr.write(`firehose: ${err.message}\n`)
    },
  })
  const onSignal = () => stop()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  void firehose.start()
  await stopped
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  await firehose.destroy()
  return printed
}
