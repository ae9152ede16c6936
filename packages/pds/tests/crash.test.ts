/**
 * Durability and an exact firehose under SIGKILL: our PDS runs as a child
 * process, takes concurrent writes from several accounts and is killed with
 * `kill -9` mid-stream, three times (dev-env's PdsCrashHarness; the long loop
 * is `npm run crash:pds`). After the restarts every acknowledged write is
 * there with its CID in the signed repo, and the firehose read from cursor 0
 * replays exactly the repos: each repo's since/prevData chain unbroken, no
 * commit twice, none missing, no #sync needed.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { PdsCrashHarness, auditFailures } from '@atsuite/dev-env'

const TIMEOUT_MS = 180_000
let harness: PdsCrashHarness

beforeAll(async () => {
  harness = await PdsCrashHarness.create({ dir: await fs.mkdtemp(path.join(os.tmpdir(), 'atsuite-crash-')) })
}, TIMEOUT_MS)

afterAll(async () => {
  await harness?.destroy()
}, TIMEOUT_MS)

test.each([1, 2, 3])('kill -9 round %i: concurrent writes, SIGKILL mid-stream, restart on the same data', async (round) => {
  const r = await harness.round(round)
  console.log(`round ${round}: ${r.acked} writes acknowledged, ${r.inFlightAtKill} requests in flight at SIGKILL, restart ${r.restartMs} ms`)
  expect(r.serverErrors).toEqual([])
  expect(r.acked).toBeGreaterThan(0)
  expect(r.inFlightAtKill).toBeGreaterThan(0)
}, TIMEOUT_MS)

test('after the kills: nothing acknowledged lost, and the firehose from cursor 0 replays every repo exactly', async () => {
  const audit = await harness.audit()
  console.log(`audit: ${audit.acknowledged} acknowledged writes, ${audit.commits} #commit events`)
  expect(audit.acknowledged).toBeGreaterThan(0)
  expect(audit.commits).toBeGreaterThan(0)
  const failures = auditFailures(audit)
  expect(failures).toEqual(Object.fromEntries(Object.keys(failures).map((k) => [k, []])))
}, TIMEOUT_MS)
