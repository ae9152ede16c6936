import Database from 'better-sqlite3'

/**
 * The connection a checkpoint thread (wal-checkpoint-worker.ts,
 * store-checkpoint-worker.ts) copies a WAL file's log through: it never
 * writes, and must not checkpoint on its own either. With `fileMustExist` it
 * never creates the file.
 */
export const openCheckpointConnection = (
  location: string,
  opts: { synchronous: 'normal' | 'off'; busyTimeoutMs: number; fileMustExist?: boolean },
): Database.Database => {
  const db = new Database(location, { fileMustExist: opts.fileMustExist ?? false })
  try {
    db.pragma(`busy_timeout = ${opts.busyTimeoutMs}`)
    db.pragma(`synchronous = ${opts.synchronous === 'off' ? 'OFF' : 'NORMAL'}`)
    db.pragma('wal_autocheckpoint = 0')
  } catch (err) {
    db.close()
    throw err
  }
  return db
}
