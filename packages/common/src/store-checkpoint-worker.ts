// The thread behind StoreCheckpointer (store-checkpointer.ts): a connection
// per store it is asked to checkpoint (the most recently used `maxOpen` kept
// open), a PASSIVE checkpoint of each store in a round, stats to the parent.
import { parentPort, workerData } from 'node:worker_threads'
import type Database from 'better-sqlite3'
import { openCheckpointConnection } from './checkpoint-connection.ts'

const port = parentPort
if (!port) throw new Error('store-checkpoint-worker.ts runs as a worker thread')
const { synchronous, maxOpen } = workerData as { synchronous: 'normal' | 'off'; maxOpen: number }

/** open connections, least recently used first */
const open = new Map<string, Database.Database>()
const stats = { checkpoints: 0, busyMs: 0, failures: 0, open: 0 }

const connect = (location: string): Database.Database => {
  let db = open.get(location)
  if (db) {
    open.delete(location)
    open.set(location, db)
    return db
  }
  // never creates a file: a store removed since it was written is an error, not a new empty store
  db = openCheckpointConnection(location, { synchronous, busyTimeoutMs: 1000, fileMustExist: true })
  open.set(location, db)
  for (const [oldest, conn] of open) {
    if (open.size <= maxOpen) break
    open.delete(oldest)
    conn.close()
  }
  return db
}

const drop = (location: string): void => {
  const db = open.get(location)
  open.delete(location)
  try {
    db?.close()
  } catch {
    // closing is all that is left to do with it
  }
}

const round = (locations: string[]): void => {
  for (const location of locations) {
    const started = performance.now()
    try {
      connect(location).pragma('wal_checkpoint(PASSIVE)')
      stats.checkpoints++
    } catch (err) {
      stats.failures++
      drop(location)
      port.postMessage({ type: 'error', location, message: (err as Error).message })
    }
    stats.busyMs += performance.now() - started
  }
  stats.open = open.size
  port.postMessage({ type: 'stats', stats })
}

type ToThread =
  | { type: 'checkpoint'; locations: string[] }
  | { type: 'forget'; location: string; id: number }
  | { type: 'flush'; id: number }
  | { type: 'close' }

port.on('message', (msg: ToThread) => {
  if (msg.type === 'checkpoint') round(msg.locations)
  else if (msg.type === 'forget') {
    drop(msg.location)
    stats.open = open.size
    port.postMessage({ type: 'stats', stats })
    port.postMessage({ type: 'done', id: msg.id })
  } else if (msg.type === 'flush') {
    // messages are handled in order: every round posted before this one is done, its stats sent
    port.postMessage({ type: 'done', id: msg.id })
  } else {
    for (const location of [...open.keys()]) drop(location)
    port.close()
  }
})
