/**
 * The long kill -9 loop for our PDS: `npm run crash:pds -- [rounds]` (default
 * 100). Each round: concurrent writers on several accounts, SIGKILL at a
 * random moment mid-stream, restart on the same data. Then one audit through
 * the public protocol (dev-env/src/crash.ts says what it checks). Exits 1 on
 * any lost write, broken chain, duplicate, missing event or #sync.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { PdsCrashHarness, auditFailures } from '@atsuite/dev-env'

const rounds = Number(process.argv[2] ?? 100)
const harness = await PdsCrashHarness.create({ dir: await fs.mkdtemp(path.join(os.tmpdir(), 'atsuite-crash-loop-')) })
let ok = false
try {
  const started = Date.now()
  let inFlight = 0
  for (let i = 1; i <= rounds; i++) {
    const r = await harness.round(i)
    inFlight += r.inFlightAtKill
    if (r.serverErrors.length > 0) console.log(`round ${i}: server errors before the kill: ${r.serverErrors.slice(0, 3).join(' | ')}`)
    if (i % 10 === 0 || i === rounds) {
      console.log(`${i}/${rounds} kills, ${harness.acknowledged} writes acknowledged, ${inFlight} requests cut by kills, ${((Date.now() - started) / 1000).toFixed(0)} s`)
    }
  }
  const audit = await harness.audit()
  const failures = auditFailures(audit)
  console.log(`\n${rounds} kill -9s, ${audit.acknowledged} acknowledged writes, ${audit.commits} #commit events replayed from cursor 0`)
  for (const [name, list] of Object.entries(failures)) console.log(`  ${name.padEnd(20)} ${list.length}${list.length ? `: ${list.slice(0, 3).join(' | ')}` : ''}`)
  ok = Object.values(failures).every((l) => l.length === 0)
  console.log(ok ? '\nPASS' : '\nFAIL')
} finally {
  await harness.destroy()
}
process.exit(ok ? 0 : 1)
