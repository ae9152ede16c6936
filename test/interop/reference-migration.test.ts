/**
 * Migration interop with the reference implementation: an account made on
 * the reference `@atproto/pds` (installed from npm into a cache directory
 * outside the repo, run on the same Node against our PLC directory) moves to
 * our PDS with `atp account migrate`, and back again. Counts equal, the repos
 * verify, checkAccountStatus exact on both sides.
 *
 * Run by `npm run test:interop` (not part of `npm test`: the first run
 * installs the reference, a minute or two).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { AtpAgent } from '@atproto/api'
import { TestNetwork, latestMail, runAtp, type CliRun } from '@atsuite/dev-env'
import { ensureReferenceInstalled, referenceEmailToken } from '../../scripts/bench/lib/reference.ts'
import { startReferencePds } from '../../scripts/bench/lib/servers.ts'
import { stopServer, type ServerProcess } from '../../scripts/bench/lib/process.ts'

let net: TestNetwork
let ref: ServerProcess
let refUrl: string
let work: string
const password = 'erin-password'

const atp = (args: string[]): Promise<CliRun> =>
  runAtp(['--plc', net.plc.url, '--json', ...args], { env: { ATP_CONFIG_DIR: path.join(work, 'config') }, timeoutMs: 120_000 })

/** The PLC token the reference mailed (it has no mail directory). */
const referencePlcToken = (did: string): string => referenceEmailToken(path.join(work, 'reference'), did, 'plc_operation')

beforeAll(async () => {
  const cacheDir = ensureReferenceInstalled()
  work = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'atsuite-interop-'))
  net = await TestNetwork.create({ relay: false })
  ref = await startReferencePds(work, net.plc.url, cacheDir)
  refUrl = ref.url.replace('127.0.0.1', 'localhost')
}, 600_000)

afterAll(async () => {
  if (ref) await stopServer(ref)
  await net?.close()
  if (work) await fs.promises.rm(work, { recursive: true, force: true })
})

test('reference → ours → reference with atp account migrate', async () => {
  // an account with records, a blob and preferences on the reference
  const erin = new AtpAgent({ service: refUrl })
  await erin.createAccount({ handle: 'erin.test', email: 'erin@example.com', password })
  const did = erin.session!.did
  const upload = await erin.uploadBlob(Buffer.from('\x89PNG\r\n\x1a\n' + 'e'.repeat(500)), { encoding: 'image/png' })
  await erin.upsertProfile(() => ({ displayName: 'Erin', avatar: upload.data.blob }))
  for (let i = 0; i < 20; i++) await erin.post({ text: `erin ${i}`, createdAt: new Date().toISOString() })
  await erin.app.bsky.actor.putPreferences({ preferences: [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: true }] })
  const atReference = (await erin.com.atproto.server.checkAccountStatus()).data
  expect(atReference.indexedRecords).toBe(21)

  // to ours: the first run stops for the emailed token (exit 3), the second completes
  const toOurs = ['account', 'migrate', '--from', refUrl, '--to', net.pds.url, '-u', 'erin.test', '-p', password, '--handle', 'erin2.test']
  const waiting = await atp(toOurs)
  expect({ code: waiting.code, stderr: waiting.stderr }).toMatchObject({ code: 3 })
  const moved = await atp([...toOurs, '--plc-token', referencePlcToken(did)])
  expect({ code: moved.code, stderr: moved.stderr }).toMatchObject({ code: 0 })
  const report = JSON.parse(moved.stdout)
  expect(report).toMatchObject({
    ok: true,
    did,
    records: { old: 21, new: 21, verified: 21 },
    blobs: { expected: 1, imported: 1 },
    // the reference reports privateStateValues 0 whatever it stores; ours counts the preferences
    preferences: { new: 1 },
    didDocument: { pds: net.pds.url, pointsToNewHost: true },
    newAccount: { activated: true },
    oldAccount: { activated: false },
  })
  // both sides exact
  const ours = new AtpAgent({ service: net.pds.url })
  await ours.login({ identifier: did, password })
  const oursStatus = (await ours.com.atproto.server.checkAccountStatus()).data
  expect(oursStatus).toMatchObject({ activated: true, validDid: true, indexedRecords: 21, expectedBlobs: 1, importedBlobs: 1, privateStateValues: 1 })
  const refStatus = (await erin.com.atproto.server.checkAccountStatus()).data
  expect(refStatus).toMatchObject({ activated: false, validDid: false, indexedRecords: 21 })
  await expect(erin.post({ text: 'from the old host', createdAt: new Date().toISOString() })).rejects.toThrow()
  await ours.post({ text: 'written on ours', createdAt: new Date().toISOString() })

  // and back to the reference (its deactivated account takes the newer repo)
  const back = ['account', 'migrate', '--from', net.pds.url, '--to', refUrl, '-u', did, '-p', password, '--handle', 'erin.test']
  const waitingBack = await atp(back)
  expect({ code: waitingBack.code, stderr: waitingBack.stderr }).toMatchObject({ code: 3 })
  const token = (await latestMail(net.pds, 'erin@example.com', 'plc_operation'))!.token!
  const returned = await atp([...back, '--plc-token', token])
  const backReport = JSON.parse(returned.stdout)
  expect(backReport).toMatchObject({
    did,
    records: { old: 22, new: 22 },
    blobs: { expected: 1, imported: 1 },
    didDocument: { pointsToNewHost: true },
    newAccount: { activated: true },
    oldAccount: { activated: false },
  })
  // the reference keeps the old host's head commit after activation: its repo
  // verifies against the new key only after its next write, and atp says so
  if (!backReport.ok) {
    expect(returned.code).toBe(4)
    expect(backReport.problems.join(' ')).toMatch(/does not verify/)
    const again = new AtpAgent({ service: refUrl })
    await again.login({ identifier: did, password })
    await again.post({ text: 'back on the reference', createdAt: new Date().toISOString() })
  }
  const verified = await atp(['repo', 'verify', did])
  expect({ code: verified.code, stderr: verified.stderr }).toMatchObject({ code: 0 })
  expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, did })
  expect((await ours.com.atproto.server.checkAccountStatus()).data).toMatchObject({ activated: false, validDid: false })
}, 300_000)
