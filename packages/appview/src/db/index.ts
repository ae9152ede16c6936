import { Db } from '@atsuite/common'
import type { AppViewSchema } from './schema/index.ts'
import { migrations } from './migrations/index.ts'

export type AppViewDb = Db<AppViewSchema>

export type AppViewDbOptions = {
  /** SQLite page cache, MiB */
  cacheMb: number
  /**
   * `normal`: checkpoints fsync (an OS crash loses at most the last commits).
   * `off`: nothing fsyncs — a process crash (kill -9) still loses nothing that
   * was committed, but an OS crash or power loss can corrupt the file, which
   * is then rebuilt from the network; indexing runs ~1.5× faster.
   */
  synchronous: 'normal' | 'off'
}

export const openAppViewDb = async (location: string, opts: AppViewDbOptions = { cacheMb: 256, synchronous: 'normal' }): Promise<AppViewDb> => {
  const db = new Db<AppViewSchema>(location)
  db.sqlite.pragma(`cache_size = -${opts.cacheMb * 1024}`)
  db.sqlite.pragma(`synchronous = ${opts.synchronous === 'off' ? 'OFF' : 'NORMAL'}`)
  // checkpoint (and fsync) every ~200 MB of log rather than every 4 MB: the indexer writes in bursts
  db.sqlite.pragma('wal_autocheckpoint = 50000')
  await db.migrateToLatest(migrations)
  return db
}
