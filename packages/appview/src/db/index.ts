import { Db } from '@atsuite/common'
import type { AppViewConfig } from '../config.ts'
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
  /** log length past which a connection copies the log into the file itself after a commit, MiB (default 1024) */
  writerCheckpointMb?: number
}

/**
 * A connection's options by its role. Readers (HTTP) get `APPVIEW_DB_CACHE_MB`
 * of page cache each. The indexer, the one writer, gets
 * `APPVIEW_INDEXER_CACHE_MB` (4 GiB): a batch of up to 100,000 events dirties
 * pages all over the indexes, and once the dirty pages outgrow the cache
 * SQLite spills them to the log mid-transaction, so a page changed again
 * later in the batch is logged again. The cache fills only as far as the
 * index does. Measured on `bench:appview`, one run each on the same machine:
 * scale 0.1 7,983 → 10,519 events/s (256 MiB → 2 GiB); scale 1 4,221 → 6,635
 * events/s (2 GiB), → 9,710 (4 GiB and batches of 100,000) (HACKING.md, Storage).
 */
export const dbOptions = (
  cfg: Pick<AppViewConfig, 'dbCacheMb' | 'indexerCacheMb' | 'dbSynchronous' | 'dbMmapMb' | 'dbWriterCheckpointMb'>,
  role: 'reader' | 'indexer',
): AppViewDbOptions => ({
  cacheMb: role === 'indexer' ? cfg.indexerCacheMb : cfg.dbCacheMb,
  writerCheckpointMb: cfg.dbWriterCheckpointMb,
  synchronous: cfg.dbSynchronous,
  mmapMb: cfg.dbMmapMb,
})

/**
 * The page size of a new index file. Its rows and index entries are long
 * (URIs, DIDs, CIDs, the records' JSON: ~150–550 bytes), so 8 KiB pages hold
 * twice as many per page as SQLite's default 4 KiB: shallower B-trees, fewer
 * page splits, fewer pages to find and write per event. Measured on
 * `bench:appview --scale 0.1` (2 runs each): 10,026–10,380 events/s and
 * 140–141 µs of CPU an event, against 8,292–8,749 and 162–181 with 4 KiB
 * pages; 16 KiB gave 8,220 (each dirty page costs twice the bytes to log).
 * At scale 1: 4,221 events/s against 3,623 (HACKING.md, Storage).
 * A file made before keeps its 4 KiB pages.
 */
export const APPVIEW_PAGE_SIZE = 8192

/** A writer checkpoints by itself past ~1 GiB of log (by default) */
const WRITER_CHECKPOINT_MB = 1024

export const openAppViewDb = async (location: string, opts: AppViewDbOptions = { cacheMb: 256, synchronous: 'normal' }): Promise<AppViewDb> => {
  const db = new Db<AppViewSchema>(location, { pageSize: APPVIEW_PAGE_SIZE })
  const pageSize = db.sqlite.pragma('page_size', { simple: true }) as number
  db.sqlite.pragma(`cache_size = -${opts.cacheMb * 1024}`)
  db.sqlite.pragma(`synchronous = ${opts.synchronous === 'off' ? 'OFF' : 'NORMAL'}`)
  db.sqlite.pragma(`mmap_size = ${(opts.mmapMb ?? 0) * 1024 * 1024}`)
  // The checkpoint thread (AppContext's WalCheckpointer) copies the log into the file; a writer
  // checkpoints by itself only when the log passes ~1 GB, a bound in case that thread falls behind.
  db.sqlite.pragma(`wal_autocheckpoint = ${Math.round(((opts.writerCheckpointMb ?? WRITER_CHECKPOINT_MB) * 1024 * 1024) / pageSize)}`)
  await db.migrateToLatest(migrations)
  return db
}
