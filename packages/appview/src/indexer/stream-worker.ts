// The stream's own thread (RepoSubscription with `decodeThread`): the
// WebSocket, its reconnects and every frame's decoding happen here, so the
// indexer's thread only applies events, and reading goes on while it runs a
// transaction. Decoded items go to the indexer's thread in batches (one per
// turn of this thread's event loop, at most 512), record blocks copied out of
// the socket buffers and transferred; each record is checked here too (lexicon, size,
// DAG-CBOR: `prepare.ts`), so the indexer's thread only writes. Flow control: at most `window` items
// (one batch of the indexer's: `batchLimit(maxPending)`) are unacknowledged by
// the indexer's thread, which acknowledges what it took in when it starts
// applying a batch and at the end of its turn (see subscription.ts); past that
// the socket is paused, as it is while the indexer asks for it.
import { parentPort, workerData } from 'node:worker_threads'
import type { checkCommitOps as CheckCommitOps } from './prepare.ts'
import { StreamClient, itemSeq, type StreamItem } from './stream-client.ts'

const port = parentPort
if (!port) throw new Error('stream-worker.ts runs as a worker thread')
const { url, cursor, window, maxRecordBytes } = workerData as { url: string; cursor: number | null; window: number; maxRecordBytes: number }

// The record checks need the lexicons (~0.4 s to load): loaded after the connection is under way, so
// they never delay it. Until they are in, records go over unchecked and the indexer checks them.
let checkCommitOps: typeof CheckCommitOps | null = null
void import('./prepare.ts').then((m) => {
  checkCommitOps = m.checkCommitOps
})

const MAX_IN_FLIGHT = window
const BATCH = Math.min(512, window)
let inFlight = 0
let creditPaused = false
let indexerPaused = false
/** the last seq handed to the indexer: a reconnect resumes after it (the indexer holds everything before) */
let lastSeq = 0
let items: StreamItem[] = []
let transfer: ArrayBuffer[] = []
let scheduled = false

const send = () => {
  scheduled = false
  if (items.length === 0) return
  port.postMessage({ type: 'items', items }, transfer)
  inFlight += items.length
  items = []
  transfer = []
  flow()
}

/** Reads while the indexer wants more and fewer than MAX_IN_FLIGHT items wait (resuming below half of it). */
const flow = () => {
  if (inFlight >= MAX_IN_FLIGHT) creditPaused = true
  else if (inFlight < MAX_IN_FLIGHT / 2) creditPaused = false
  if (indexerPaused || creditPaused) client.pause()
  else client.resume()
}

const client = new StreamClient({
  url,
  cursor: () => (lastSeq > 0 ? lastSeq : cursor),
  onItem: (item) => {
    const seq = itemSeq(item)
    if (seq !== null && seq > lastSeq) lastSeq = seq
    if (item.kind === 'event' && item.event.type === 'commit') {
      checkCommitOps?.(item.event, maxRecordBytes)
      for (const op of item.event.ops) {
        if (op.action === 'delete' || !op.block) continue
        // a view into the socket's read buffer: an exact copy of its own, moved rather than cloned
        op.block = new Uint8Array(op.block)
        transfer.push(op.block.buffer as ArrayBuffer)
      }
    }
    items.push(item)
    if (items.length >= BATCH) send()
    else if (!scheduled) {
      scheduled = true
      setImmediate(send)
    }
  },
  onChange: () => port.postMessage({ type: 'state', connected: client.connected }),
})

port.on('message', (msg: { type: 'pause' | 'resume' | 'stop' } | { type: 'ack'; n: number }) => {
  if (msg.type === 'ack') {
    inFlight -= msg.n
    flow()
  } else if (msg.type === 'pause' || msg.type === 'resume') {
    indexerPaused = msg.type === 'pause'
    flow()
  } else {
    client.stop()
    port.close()
  }
})
client.start()
