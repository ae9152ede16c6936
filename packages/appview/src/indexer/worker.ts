// The indexer's worker thread (see service.ts ThreadIndexer): opens its own
// connection to the app view's database, runs the subscription and the
// indexer, and reports its status to the main thread after every step.
import { parentPort, workerData } from 'node:worker_threads'
import type { AppViewConfig } from '../config.ts'
import { dbOptions, openAppViewDb } from '../db/index.ts'
import { LocalIndexer, workerIdentity, type IndexerStatus } from './service.ts'

const port = parentPort
if (!port) throw new Error('indexer/worker.ts runs as a worker thread')
const { cfg } = workerData as { cfg: AppViewConfig }

const db = await openAppViewDb(cfg.dbLocation, dbOptions(cfg, 'indexer'))
const indexer = new LocalIndexer(cfg, db, workerIdentity(cfg))

// status after every step, coalesced per turn of the event loop
let scheduled = false
const report = () => {
  if (scheduled) return
  scheduled = true
  setImmediate(() => {
    scheduled = false
    const status: IndexerStatus = indexer.status
    port.postMessage({ type: 'status', status })
  })
}
indexer.on('progress', report)

port.on('message', (msg: { type: string }) => {
  if (msg.type !== 'close') return
  void indexer.close().then(() => {
    port.postMessage({ type: 'closed' })
    port.close()
  })
})

await indexer.start()
report()
