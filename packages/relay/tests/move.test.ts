/**
 * An account that moves to another host moments after the relay re-read
 * its DID document: the new host's events are relayed (the relay reads the
 * document again instead of trusting the copy it just fetched), the old
 * host's late deactivation of its copy does not stick, and the account ends
 * active on the new host with its chain going on there.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { PlcServer } from '@atsuite/plc'
import { FakeAccount, FakePds, POST, post, startTestRelay, testRelayConfig, waitUntil } from '@atsuite/dev-env'
import type { RelayServer } from '@atsuite/relay'
import { consume, requestCrawl, xrpcGet } from './_net.ts'

let dir: string
let plc: PlcServer
let oldHost: FakePds
let newHost: FakePds
let relay: RelayServer

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-move-'))
  plc = await PlcServer.create({ port: 0, host: '127.0.0.1', dbLocation: path.join(dir, 'plc.sqlite') })
  await plc.start()
  oldHost = await FakePds.start()
  newHost = await FakePds.start()
  relay = await startTestRelay(testRelayConfig(plc.url, path.join(dir, 'relay')))
  for (const host of [oldHost, newHost]) {
    expect((await requestCrawl(relay, host.hostname)).status).toBe(200)
    await host.waitForSubscribers(1)
  }
})

afterAll(async () => {
  await relay?.destroy()
  await oldHost?.close()
  await newHost?.close()
  await plc?.destroy()
  if (dir) await fs.rm(dir, { recursive: true, force: true })
})

test('a move right after a forced identity refresh: the new host is followed, the old host’s deactivation dropped', async () => {
  const alice = await FakeAccount.create(plc.url, oldHost.url)
  oldHost.repos.set(alice.did, alice)
  const consumer = await consume(relay, 0)
  oldHost.emit('#sync', await alice.syncBody())
  const first = await alice.commit([{ action: 'create', collection: POST, rkey: 'a1', record: post('on the old host') }])
  oldHost.emit('#commit', first.body)
  await consumer.waitUntil((c) => c.commitCids(alice.did).includes(first.cid.toString()), 15_000, 'the first commit')

  // the old host announces a handle change: the relay re-reads the DID document (a forced lookup)
  await alice.setHandle('alice-renamed.test')
  oldHost.emit('#identity', alice.identityBody())
  await consumer.waitUntil((c) => c.of('#identity', alice.did).length === 1, 15_000, 'the #identity')

  // within the refresh interval the account moves; the new host announces it at once
  await alice.setPds(newHost.url)
  newHost.repos.set(alice.did, alice)
  newHost.emit('#identity', alice.identityBody())
  newHost.emit('#account', alice.accountBody())
  const moved = await alice.commit([{ action: 'create', collection: POST, rkey: 'a2', record: post('on the new host') }])
  newHost.emit('#commit', moved.body)
  // and the old host deactivates what it still has
  oldHost.emit('#account', { did: alice.did, active: false, status: 'deactivated', time: new Date().toISOString() })

  await consumer.waitUntil((c) => c.commitCids(alice.did).includes(moved.cid.toString()), 15_000, 'the commit from the new host')
  // the old host's deactivation is dropped, or, taken before the move was seen, relayed
  await waitUntil(
    () =>
      (relay.ctx.hosts.status(oldHost.hostname)?.dropped.wrong_host ?? 0) >= 1 ||
      consumer.of('#account', alice.did).some((f) => f.body.active === false),
    { timeoutMs: 15_000, pollMs: 20, describe: () => 'the old host’s #account was neither dropped nor relayed' },
  )
  const status = await xrpcGet(relay.url, 'com.atproto.sync.getRepoStatus', { did: alice.did })
  expect(status).toEqual({ status: 200, body: { did: alice.did, active: true, rev: moved.rev } })
  // consumers end with the account active: the last #account they saw is the new host's
  const accounts = consumer.of('#account', alice.did)
  expect(accounts.at(-1)?.body.active).toBe(true)
  expect(relay.ctx.hosts.status(newHost.hostname)?.dropped.wrong_host ?? 0).toBe(0)
  consumer.close()
})
