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
  /**
   * How much of the file reads map into memory instead of copying through
   * read() calls, MiB (0: none). Hydration probes indexes at random places
   * (follows of every author on a page, from the viewer): mapped, a probe of
   * a page the OS has cached costs no system call. Mapped pages count in
   * RSS but belong to the OS page cache.
   */
  mmapMb?: number
}

export const openAppViewDb = async (location: string, opts: AppViewDbOptions = { cacheMb: 256, synchronous: 'normal' }): Promise<AppViewDb> => {
  const db = new Db<AppViewSchema>(location)
  db.sqlite.pragma(`cache_size = -${opts.cacheMb * 1024}`)
  db.sqlite.pragma(`synchronous = ${opts.synchronous === 'off' ? 'OFF' : 'NORMAL'}`)
  db.sqlite.pragma(`mmap_size = ${(opts.mmapMb ?? 0) * 1024 * 1024}`)
  // checkpoint (and fsync) every ~200 MB of log rather than every 4 MB: the indexer writes in bursts
  db.sqlite.pragma('wal_autocheckpoint = 50000')
  await db.migrateToLatest(migrations)
  return db
}
