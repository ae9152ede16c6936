// The thread behind WalCheckpointer (wal-checkpointer.ts): its own connection
// to the file, a PASSIVE checkpoint every interval, stats to the parent.
import { parentPort, workerData } from 'node:worker_threads'
import { openCheckpointConnection } from './checkpoint-connection.ts'

const port = parentPort
if (!port) throw new Error('wal-checkpoint-worker.ts runs as a worker thread')
const { location, intervalMs, synchronous } = workerData as { location: string; intervalMs: number; synchronous: 'normal' | 'off' }

const db = openCheckpointConnection(location, { synchronous, busyTimeoutMs: 5000 })

const stats = { checkpoints: 0, busyMs: 0, walFrames: 0, copiedFrames: 0 }

/** the file's data_version as of the last checkpoint: it changes whenever another connection commits */
let checkedVersion = -1

const checkpoint = () => {
  const started = performance.now()
  try {
    const version = db.pragma('data_version', { simple: true }) as number
    const written = version !== checkedVersion
    // nothing committed since a checkpoint that copied everything: nothing to do
    if (!written && stats.copiedFrames === stats.walFrames) return
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[]
    checkedVersion = version
    // a retry of a partial checkpoint that got no further: no message (a restarted log that happens to
    // hold as many frames as before is new, which is why the version is checked and not only the counts)
    if (!written && row.log === stats.walFrames && row.checkpointed === stats.copiedFrames) return
    stats.checkpoints++
    stats.busyMs += performance.now() - started
    stats.walFrames = row.log
    stats.copiedFrames = row.checkpointed
    port.postMessage({ type: 'stats', stats })
  } catch (err) {
    port.postMessage({ type: 'error', message: (err as Error).message })
  }
}

const timer = setInterval(checkpoint, intervalMs)
port.postMessage({ type: 'ready' })
port.on('message', (msg: { type: string }) => {
  if (msg.type !== 'close') return
  clearInterval(timer)
  db.close()
  port.close()
})
