// Which B-trees a SQLite write transaction dirtied, and how many pages of
// each: the page numbers of the frames in a WAL file, counted per table or
// index through SQLite's `dbstat`. What a batch logs (and its checkpoint copies
// again) is what limits the app view's indexing on a large index
// (packages/appview/HACKING.md, Storage).
//
//   node scripts/bench/wal-btrees.ts sample <db file> <out.json>
//       while the writer runs: the frames of the log's current generation
//       (those whose salts match its header: everything since the log last
//       restarted), as page number → frames. Take it between two commits of a
//       large batch and it holds that batch.
//   node scripts/bench/wal-btrees.ts map <db file> <sample.json>…
//       afterwards, on the same file (at rest): each sample's frames by B-tree.
//       Pages keep their numbers unless the file is vacuumed; one freed and
//       reused since by another B-tree is counted under its new owner.

import fs from 'node:fs'
import Database from 'better-sqlite3'

type Sample = { file: string; takenAt: string; pageSize: number; frames: number; commits: number; pages: Record<string, number> }

const WAL_HEADER = 32
const FRAME_HEADER = 24

const sample = (dbFile: string): Sample => {
  const fd = fs.openSync(`${dbFile}-wal`, 'r')
  try {
    const header = Buffer.alloc(WAL_HEADER)
    if (fs.readSync(fd, header, 0, WAL_HEADER, 0) < WAL_HEADER) throw new Error(`${dbFile}-wal: no WAL header`)
    const magic = header.readUInt32BE(0)
    if (magic !== 0x377f0682 && magic !== 0x377f0683) throw new Error(`${dbFile}-wal: not a WAL file`)
    const pageSize = header.readUInt32BE(8)
    const salt1 = header.readUInt32BE(16)
    const salt2 = header.readUInt32BE(20)
    const pages = new Map<number, number>()
    const frame = Buffer.alloc(FRAME_HEADER)
    let frames = 0
    let commits = 0
    for (;;) {
      const at = WAL_HEADER + frames * (FRAME_HEADER + pageSize)
      if (fs.readSync(fd, frame, 0, FRAME_HEADER, at) < FRAME_HEADER) break
      // a frame of an earlier generation: the current one ends here
      if (frame.readUInt32BE(8) !== salt1 || frame.readUInt32BE(12) !== salt2) break
      const pgno = frame.readUInt32BE(0)
      pages.set(pgno, (pages.get(pgno) ?? 0) + 1)
      if (frame.readUInt32BE(4) !== 0) commits++
      frames++
    }
    return { file: dbFile, takenAt: new Date().toISOString(), pageSize, frames, commits, pages: Object.fromEntries(pages) }
  } finally {
    fs.closeSync(fd)
  }
}

const map = (dbFile: string, samples: Sample[]): void => {
  const db = new Database(dbFile, { readonly: true })
  const owner = new Map<number, string>()
  for (const r of db.prepare('SELECT name, pageno FROM dbstat').iterate() as Iterable<{ name: string; pageno: number }>) owner.set(r.pageno, r.name)
  db.close()
  for (const s of samples) {
    const by = new Map<string, { frames: number; pages: number }>()
    for (const [pgno, n] of Object.entries(s.pages)) {
      const name = owner.get(Number(pgno)) ?? '(free or gone)'
      const e = by.get(name) ?? { frames: 0, pages: 0 }
      e.frames += n
      e.pages++
      by.set(name, e)
    }
    console.log(`\n${s.takenAt}: ${s.frames.toLocaleString('en-US')} frames (${((s.frames * s.pageSize) / 2 ** 20).toFixed(0)} MiB), ${s.commits} commits`)
    console.log('B-tree'.padEnd(34), 'frames'.padStart(9), 'share'.padStart(7), 'pages'.padStart(9))
    for (const [name, e] of [...by].sort((a, b) => b[1].frames - a[1].frames)) {
      console.log(name.padEnd(34), e.frames.toLocaleString('en-US').padStart(9), `${((100 * e.frames) / s.frames).toFixed(1)} %`.padStart(7), e.pages.toLocaleString('en-US').padStart(9))
    }
  }
}

const [cmd, dbFile, ...rest] = process.argv.slice(2)
if (cmd === 'sample' && dbFile && rest.length === 1) {
  const s = sample(dbFile)
  fs.writeFileSync(rest[0]!, JSON.stringify(s))
  console.log(`${s.frames} frames, ${s.commits} commits -> ${rest[0]}`)
} else if (cmd === 'map' && dbFile && rest.length > 0) {
  map(dbFile, rest.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as Sample))
} else {
  console.error('usage: node scripts/bench/wal-btrees.ts sample <db file> <out.json> | map <db file> <sample.json>…')
  process.exit(2)
}
