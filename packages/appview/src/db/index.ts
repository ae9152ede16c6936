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

/** 4 KiB pages: ~1 GB of log */
const WRITER_CHECKPOINT_PAGES = 250_000

export const openAppViewDb = async (location: string, opts: AppViewDbOptions = { cacheMb: 256, synchronous: 'normal' }): Promise<AppViewDb> => {
  const db = new Db<AppViewSchema>(location)
  db.sqlite.pragma(`cache_size = -${opts.cacheMb * 1024}`)
  db.sqlite.pragma(`synchronous = ${opts.synchronous === 'off' ? 'OFF' : 'NORMAL'}`)
  db.sqlite.pragma(`mmap_size = ${(opts.mmapMb ?? 0) * 1024 * 1024}`)
  // The checkpoint thread (AppContext's WalCheckpointer) copies the log into the file; a writer
  // checkpoints by itself only when the log passes ~1 GB, a bound in case that thread falls behind.
  db.sqlite.pragma(`wal_autocheckpoint = ${WRITER_CHECKPOINT_PAGES}`)
  await db.migrateToLatest(migrations)
  return db
}
