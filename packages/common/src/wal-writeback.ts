import fs from 'node:fs'

/**
 * Has the kernel write a WAL file's pages to disk ahead of its checkpoint, in
 * libuv's thread pool, so the checkpoint's own fsyncs find little left to do.
 *
 * A writer that checkpoints by itself (`wal_autocheckpoint`, synchronous =
 * NORMAL) does it inside the commit that crosses the bound: an fsync of the
 * WAL, the copy, an fsync of the database. With ~16 MiB of log still only in
 * the page cache, that commit took ~20 ms here, about once every 180
 * single-record commits to one repo: a tenth of a sequential writer's time.
 * Most of it was the WAL's fsync writing those 16 MiB out. Synced along the
 * way, off the thread, only the last stretch is left for it.
 *
 * Nothing depends on these syncs for correctness (SQLite's own still happen
 * where they must); a sync that fails or finds the file gone is ignored.
 */
export class WalWriteback {
  private readonly walPath: string
  private readonly everyPages: number
  private pending = 0
  private inFlight: Promise<void> | null = null
  /** fdatasyncs started so far */
  syncs = 0

  /** `dbPath`: the database file (its WAL is `<dbPath>-wal`); a sync every `everyPages` pages noted. */
  constructor(dbPath: string, everyPages = 1_000) {
    this.walPath = `${dbPath}-wal`
    this.everyPages = everyPages
  }

  /** After a commit: about how many pages it wrote to the WAL. Starts a sync once enough have gathered and none is running. */
  note(pages: number): void {
    this.pending += pages
    if (this.pending < this.everyPages || this.inFlight) return
    this.pending = 0
    this.syncs++
    this.inFlight = this.sync().finally(() => {
      this.inFlight = null
    })
  }

  /** Resolves once no sync is running (for shutdown and tests). */
  async settled(): Promise<void> {
    await this.inFlight
  }

  private async sync(): Promise<void> {
    let fd: fs.promises.FileHandle
    try {
      fd = await fs.promises.open(this.walPath, 'r')
    } catch {
      return // no log (yet, or any more: the store was closed or removed)
    }
    try {
      await fd.datasync()
    } catch {
      // best effort: the checkpoint syncs the file itself
    } finally {
      await fd.close().catch(() => undefined)
    }
  }
}
