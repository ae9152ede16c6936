// Migration benchmark: `atp account migrate` of a large account between two
// of our PDSes, and from the reference @atproto/pds to ours; every server in
// its own process on loopback, one local PLC directory.
//
//   npm run bench:migrate [-- --records 100000] [--blobs 200] [--small-records 10000]
//                            [--no-reference] [--keep]
//
// The source account is filled through its API: `blobs` image posts, then the
// rest of `records` posts with applyWrites, 200 a call. Then the CLI migrates it (two runs: the second with the
// emailed PLC token) while both servers' RSS is sampled every 100 ms.
//
// Figures per scenario: wall time of the migration, import-repo and blobs
// step times, records/s imported, CAR size, peak RSS of the old and new
// server during the migration. The same migration at `small-records` shows
// whether memory stays flat in repo size (import streams).
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { AtpAgent } from '@atproto/api'
import { TID } from '@atproto/common'
import { helpAndExit, numFlag } from './lib/flags.ts'
import { latestMailIn, runAtp } from '@atsuite/dev-env'
import { memoryMiB, stopServer, type ServerProcess } from './lib/process.ts'
import { REFERENCE_VERSION, ensureReferenceInstalled, referenceEmailToken } from './lib/reference.ts'
import { progress, runBench } from './lib/run.ts'
import { startOurPds, startPlc, startReferencePds, type Target } from './lib/servers.ts'

const usage =
  'usage: npm run bench:migrate -- [--records 100000] [--blobs 200] [--small-records 10000] [--no-reference] [--keep]'
const { values: flags } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    blobs: { type: 'string', default: '200' },
    'small-records': { type: 'string', default: '10000' },
    'no-reference': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
helpAndExit(flags.help, usage)
const records = Math.floor(numFlag(flags, 'records', 10, usage))
const blobs = Math.floor(numFlag(flags, 'blobs', 0, usage))
const smallRecords = Math.floor(numFlag(flags, 'small-records', 10, usage))
if (blobs > records) {
  console.error(`--blobs (${blobs}) may not exceed --records (${records})`)
  process.exit(2)
}

const PASSWORD = 'bench-password'

type Result = {
  scenario: string
  records: number
  blobs: number
  carMiB: number
  wallS: number
  importS: number
  blobsS: number
  recordsPerS: number
  peakOldMiB: number
  peakNewMiB: number
  ok: boolean
  problems: string[]
}

/** An ABSOLUTE base URL the servers' DID documents use (localhost, not 127.0.0.1). */
const publicUrl = (s: ServerProcess): string => s.url.replace('127.0.0.1', 'localhost')

/** A PNG-looking blob of ~10 KB, distinct per index. */
const blobBytes = (i: number): Buffer => Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), Buffer.alloc(10_000, i % 251), Buffer.from(String(i))])

/**
 * Creates `handle` on `source` and fills it: `blobCount` image posts through
 * the API, then text posts with applyWrites up to `count`. Returns the DID and CAR size.
 */
const fillAccount = async (source: ServerProcess, handle: string, count: number, blobCount: number): Promise<{ did: string; carBytes: number }> => {
  const agent = new AtpAgent({ service: publicUrl(source) })
  await agent.createAccount({ handle, email: `${handle.split('.')[0]}@example.com`, password: PASSWORD })
  const did = agent.session!.did
  // the image posts through the API (a host makes a blob permanent when a commit cites it; the
  // reference keeps uploads that only an imported record cites as temporary, unservable)
  for (let i = 0; i < blobCount; i++) {
    const image = (await agent.uploadBlob(blobBytes(i), { encoding: 'image/png' })).data.blob
    await agent.post({ text: `post ${i} with an image`, embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image }] } })
  }

  // the rest through applyWrites, 200 creates a call (the reference's limit)
  const BATCH = 200
  const base = Date.now() - count
  for (let start = blobCount; start < count; start += BATCH) {
    const writes = []
    for (let i = start; i < Math.min(count, start + BATCH); i++) {
      writes.push({
        $type: 'com.atproto.repo.applyWrites#create' as const,
        collection: 'app.bsky.feed.post',
        rkey: TID.fromTime((base + i) * 1000, 0).toString(),
        value: { $type: 'app.bsky.feed.post', text: `post ${i} of a large account`, createdAt: new Date(base + i).toISOString() },
      })
    }
    await agent.com.atproto.repo.applyWrites({ repo: did, writes, validate: false })
    if ((start / BATCH) % 50 === 0) progress(`  ${Math.min(count, start + BATCH).toLocaleString()} / ${count.toLocaleString()} records`)
  }
  const carBytes = Number((await fetch(`${publicUrl(source)}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`).then((r) => r.arrayBuffer())).byteLength)
  const status = (await agent.com.atproto.server.checkAccountStatus()).data
  if (status.indexedRecords !== count) throw new Error(`the source holds ${status.indexedRecords} records, expected ${count}`)
  return { did, carBytes }
}

const runCli = (args: string[], plcUrl: string) => runAtp(['--plc', plcUrl, '--json', '--quiet', ...args], { timeoutMs: 3_600_000 })

/** The PLC token an old host mailed: our PDS writes mail files; the reference keeps it in its account DB. */
const plcToken = async (workDir: string, kind: Target, did: string, email: string): Promise<string> => {
  if (kind === 'reference') return referenceEmailToken(path.join(workDir, 'reference'), did, 'plc_operation')
  const mail = await latestMailIn(path.join(workDir, 'ours', 'mail'), email, 'plc_operation')
  if (!mail?.token) throw new Error(`no PLC token mailed to ${email}`)
  return mail.token
}

/** Samples both servers' RSS every 100 ms until stopped; returns the peaks. */
const sampleRss = (a: ServerProcess, b: ServerProcess) => {
  const peak = { a: memoryMiB(a.pid), b: memoryMiB(b.pid) }
  let running = true
  const loop = (async () => {
    while (running) {
      peak.a = Math.max(peak.a, memoryMiB(a.pid))
      peak.b = Math.max(peak.b, memoryMiB(b.pid))
      await sleep(100)
    }
  })()
  return async () => {
    running = false
    await loop
    return peak
  }
}

const scenario = async (
  workDir: string,
  name: string,
  sourceKind: Target,
  count: number,
  blobCount: number,
  cacheDir?: string,
): Promise<Result> => {
  const dir = path.join(workDir, name.replace(/\W+/g, '-'))
  const srcDir = path.join(dir, 'src')
  const dstDir = path.join(dir, 'dst')
  fs.mkdirSync(srcDir, { recursive: true })
  fs.mkdirSync(dstDir, { recursive: true })
  const plc = await startPlc(dir)
  const source = sourceKind === 'reference' ? await startReferencePds(srcDir, plc.url, cacheDir!) : await startOurPds(srcDir, plc.url)
  const dest = await startOurPds(dstDir, plc.url)
  try {
    progress(`${name}: filling the source account (${count.toLocaleString()} records, ${blobCount} blobs)`)
    const handle = 'big.test'
    const { did, carBytes } = await fillAccount(source, handle, count, blobCount)
    progress(`${name}: migrating`)
    const args = ['account', 'migrate', '--from', publicUrl(source), '--to', publicUrl(dest), '-u', did, '-p', PASSWORD, '--handle', 'moved.test']
    const stopSampling = sampleRss(source, dest)
    const started = performance.now()
    const first = await runCli(args, plc.url)
    if (first.code !== 3) throw new Error(`first run exited ${first.code}, expected 3 (token needed): ${first.stderr}`)
    const firstReport = first.stderr
    const second = await runCli([...args, '--plc-token', await plcToken(srcDir, sourceKind, did, 'big@example.com')], plc.url)
    const wallS = (performance.now() - started) / 1000
    const peak = await stopSampling()
    if (second.code !== 0 && second.code !== 4) throw new Error(`second run exited ${second.code}: ${second.stderr}`)
    const report = JSON.parse(second.stdout) as { ok: boolean; problems: string[]; records: { new: number }; timings: Record<string, number> }
    const stepS = (step: string, text: string) => {
      const m = new RegExp(`✓ ${step}.* ([\\d.]+) (ms|s)$`, 'm').exec(text)
      return m ? Number(m[1]) / (m[2] === 'ms' ? 1000 : 1) : 0
    }
    const importS = stepS('import-repo', firstReport)
    return {
      scenario: name,
      records: report.records.new,
      blobs: blobCount,
      carMiB: carBytes / 1048576,
      wallS,
      importS,
      blobsS: stepS('blobs', firstReport),
      recordsPerS: importS > 0 ? count / importS : 0,
      peakOldMiB: peak.a,
      peakNewMiB: peak.b,
      ok: report.ok,
      problems: report.problems,
    }
  } finally {
    for (const s of [dest, source, plc]) await stopServer(s)
  }
}

const fmt = (n: number, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

await runBench('atsuite-bench-migrate-', flags.keep, async (workDir) => {
  const results: Result[] = []
  results.push(await scenario(workDir, `ours → ours, ${smallRecords.toLocaleString()} records`, 'ours', smallRecords, Math.min(blobs, smallRecords)))
  results.push(await scenario(workDir, `ours → ours, ${records.toLocaleString()} records`, 'ours', records, blobs))
  if (!flags['no-reference']) {
    const cacheDir = ensureReferenceInstalled()
    results.push(await scenario(workDir, `reference ${REFERENCE_VERSION} → ours, ${records.toLocaleString()} records`, 'reference', records, blobs, cacheDir))
  }
  const rows = [
    ['scenario', 'records', 'blobs', 'CAR MiB', 'wall s', 'import s', 'records/s', 'blobs s', 'old RSS peak', 'new RSS peak', 'verified'],
    ...results.map((r) => [
      r.scenario,
      r.records.toLocaleString(),
      String(r.blobs),
      fmt(r.carMiB),
      fmt(r.wallS),
      fmt(r.importS),
      fmt(r.recordsPerS, 0),
      fmt(r.blobsS),
      `${fmt(r.peakOldMiB, 0)} MiB`,
      `${fmt(r.peakNewMiB, 0)} MiB`,
      r.ok ? 'yes' : `NO: ${r.problems.join('; ')}`,
    ]),
  ]
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  console.log('')
  for (const [i, row] of rows.entries()) {
    console.log(row.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  '))
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  }
  const [small, big] = results
  if (small && big) {
    console.log(
      `\nmemory in repo size: ${fmt(big.records / small.records, 0)}× the records → new host RSS peak ×${fmt(big.peakNewMiB / small.peakNewMiB, 2)}, old host ×${fmt(big.peakOldMiB / small.peakOldMiB, 2)}`,
    )
  }
})
