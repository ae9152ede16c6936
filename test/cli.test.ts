/**
 * The `atp` command line as a user runs it: a separate process talking HTTP
 * and WebSocket to the test network. Accounts, invites, handles; repo export,
 * verify (a tampered CAR fails), ls and import; a migration between two of
 * our PDSes killed (SIGKILL) after every step and resumed until it
 * completes; the firehose as verified JSON lines.
 */
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { PDS } from '@atsuite/pds'
import { ATP_BIN, TestNetwork, latestMail, runAtp, type CliRun, type TestUser } from '@atsuite/dev-env'
import { post } from './_util.ts'

let net: TestNetwork
let pds2: PDS
let dir: string
let bob: TestUser

const atp = (args: string[], env: Record<string, string> = {}): Promise<CliRun> =>
  runAtp(['--plc', net.plc.url, ...args], { env: { ATP_CONFIG_DIR: path.join(dir, 'config'), ...env } })

const ok = async (args: string[], env?: Record<string, string>): Promise<string> => {
  const r = await atp(args, env)
  if (r.code !== 0) throw new Error(`atp ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr}`)
  return r.stdout
}

beforeAll(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'atp-cli-'))
  net = await TestNetwork.create({ appview: true })
  pds2 = await net.addPds()
  bob = await net.createUser('bob')
  for (let i = 0; i < 5; i++) await post(bob.agent, `bob ${i}`)
})

afterAll(async () => {
  await net?.close()
  await fs.promises.rm(dir, { recursive: true, force: true })
})

test('account create / login / status, handle set, invite create', async () => {
  const created = JSON.parse(
    await ok(['--json', 'account', 'create', '--pds', net.pds.url, '--handle', 'carol.test', '--email', 'carol@example.com', '-p', 'carol-pass']),
  )
  expect(created.did).toMatch(/^did:plc:/)
  const status = JSON.parse(await ok(['--json', 'account', 'status']))
  expect(status).toMatchObject({ did: created.did, handle: 'carol.test', activated: true, validDid: true })
  await ok(['handle', 'set', 'carol2.test'])
  expect((await net.pds.ctx.accounts.getAccount(created.did))?.handle).toBe('carol2.test')

  // wrong password: exit 1 with what to do
  const bad = await atp(['account', 'login', '--pds', net.pds.url, '-u', 'carol2.test', '-p', 'wrong'])
  expect(bad.code).toBe(1)
  expect(bad.stderr).toMatch(/check the password/)
  // unreachable server: exit 5
  const down = await atp(['account', 'login', '--pds', 'http://127.0.0.1:1', '-u', 'carol2.test', '-p', 'carol-pass'])
  expect(down.code).toBe(5)

  const noAdmin = await atp(['invite', 'create', '--pds', net.pds.url])
  expect(noAdmin.code).toBe(2)
  const code = (await ok(['invite', 'create', '--pds', net.pds.url, '--admin-password', net.pds.ctx.secrets.adminPassword, '--uses', '2'])).trim()
  const codes = await net.agent().com.atproto.admin.getInviteCodes({}, { headers: net.adminAuthHeaders() })
  expect(codes.data.codes.find((c) => c.code === code)?.available).toBe(2)
})

test('repo export, verify, ls, import', async () => {
  const file = path.join(dir, 'bob.car')
  await ok(['repo', 'export', bob.handle, '--pds', net.pds.url, '-o', file])
  const verified = JSON.parse(await ok(['--json', 'repo', 'verify', file]))
  expect(verified).toMatchObject({ ok: true, did: bob.did, records: 5, collections: { 'app.bsky.feed.post': 5 } })
  // by DID, straight from its PDS
  expect(JSON.parse(await ok(['--json', 'repo', 'verify', bob.did])).records).toBe(5)

  // a flipped byte in a record: the CAR no longer verifies (exit 4)
  const bytes = fs.readFileSync(file)
  const at = bytes.indexOf(Buffer.from('bob 3'))
  bytes[at + 4] = '9'.charCodeAt(0)
  const tampered = path.join(dir, 'tampered.car')
  fs.writeFileSync(tampered, bytes)
  const bad = await atp(['repo', 'verify', tampered])
  expect(bad.code).toBe(4)

  const lines = (await ok(['repo', 'ls', file, '-c', 'app.bsky.feed.post'])).trim().split('\n')
  expect(lines).toHaveLength(5)
  expect(lines[0]).toMatch(new RegExp(`^at://${bob.did}/app.bsky.feed.post/\\S+ b\\S+$`))

  // importing bob's repo into carol's account (logged in above): refused, saying why
  const refused = await atp(['repo', 'import', file])
  expect(refused.code).toBe(1)
  expect(refused.stderr).toMatch(/not for this account/)
  // bob's own export back into bob's account: a no-op re-import
  await ok(['account', 'login', '--pds', net.pds.url, '-u', bob.handle, '-p', bob.password])
  await ok(['repo', 'import', file])
  expect((await bob.agent.com.atproto.server.checkAccountStatus()).data.indexedRecords).toBe(5)
})

test('migrate: killed after every step, resumed until done; the network follows', async () => {
  const dana = await net.createUser('dana')
  const upload = await dana.agent.uploadBlob(Buffer.from('\x89PNG\r\n\x1a\n' + 'd'.repeat(300)), { encoding: 'image/png' })
  await dana.agent.post({ text: 'a picture', embed: { $type: 'app.bsky.embed.images', images: [{ image: upload.data.blob, alt: '' }] } })
  for (let i = 0; i < 3; i++) await post(dana.agent, `dana ${i}`)
  await bob.agent.follow(dana.did)
  await net.processAll()

  const args = ['--json', 'account', 'migrate', '--from', net.pds.url, '--to', pds2.url, '-u', dana.handle, '-p', dana.password, '--handle', 'dana2.test']

  for (const step of ['login', 'create-account', 'import-repo', 'blobs', 'preferences']) {
    const r = await atp(args, { ATP_FAULT_KILL_AFTER: step })
    expect({ step, signal: r.signal, stderr: r.signal ? '' : r.stderr }).toEqual({ step, signal: 'SIGKILL', stderr: '' })
    expect(r.stderr).toContain(`✓ ${step}`)
  }
  // the PLC step needs the emailed token: exit 3, saying so
  const waiting = await atp(args)
  expect(waiting.code).toBe(3)
  expect(waiting.stderr).toMatch(/--plc-token/)
  const token = (await latestMail(net.pds, 'dana@example.com', 'plc_operation'))!.token!
  for (const step of ['plc', 'activate', 'deactivate-old']) {
    const r = await atp([...args, '--plc-token', token], { ATP_FAULT_KILL_AFTER: step })
    expect({ step, signal: r.signal, stderr: r.signal ? '' : r.stderr }).toEqual({ step, signal: 'SIGKILL', stderr: '' })
  }
  const done = await atp([...args, '--plc-token', token])
  expect(done.code).toBe(0)
  const report = JSON.parse(done.stdout)
  expect(report).toMatchObject({
    ok: true,
    did: dana.did,
    handle: 'dana2.test',
    records: { old: 4, new: 4, verified: 4 },
    blobs: { expected: 1, imported: 1, missingAtOld: [] },
    didDocument: { pds: pds2.url, pointsToNewHost: true },
    newAccount: { activated: true },
    oldAccount: { activated: false },
  })
  // run again: nothing left to do, same verdict
  expect(JSON.parse(await ok([...args, '--plc-token', token])).ok).toBe(true)

  // followers see her next post, from the new host
  await net.processAll()
  const agent = net.agent(pds2)
  await agent.login({ identifier: dana.did, password: dana.password })
  const after = await post(agent, 'settled in')
  await net.processAll()
  const timeline = (await bob.agent.getTimeline()).data.feed
  expect(timeline[0].post.uri).toBe(after.uri)
  const profile = (await bob.agent.getProfile({ actor: dana.did })).data
  expect(profile).toMatchObject({ handle: 'dana2.test', postsCount: 5 })
  expect(profile.viewer?.following).toBeTruthy()
})

test('firehose tail: verified events as JSON lines, filtered', async () => {
  const out = await ok(['firehose', 'tail', net.relay.url, '--cursor', '0', '--collection', 'app.bsky.feed.post', '--did', bob.did, '--limit', '5'])
  const events = out.trim().split('\n').map((l) => JSON.parse(l))
  expect(events).toHaveLength(5)
  for (const e of events) {
    expect(e).toMatchObject({ event: 'create', did: bob.did, collection: 'app.bsky.feed.post' })
    expect(e.record.text).toMatch(/^bob \d$/)
    expect(e.cid.$link).toMatch(/^b/)
  }
  expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b))
})

test('a reader that stops early (| head) ends atp quietly, exit 0', async () => {
  // head -n 0 exits at once: every write atp makes then meets a closed pipe
  const script = '"$0" "$1" --help | head -n 0; echo "exit ${PIPESTATUS[0]}"'
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile('bash', ['-c', script, process.execPath, ATP_BIN], (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr }))),
  )
  expect(stdout.trim()).toBe('exit 0')
  expect(stderr).toBe('')
})
