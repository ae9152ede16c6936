/**
 * A newly crawled host's existing accounts are taken from its listRepos, so
 * getRepoStatus and listRepos on the relay are complete before each
 * account's next write; a listed account whose DID names another host is
 * not adopted; and a commit the listing already counted, arriving on the
 * stream after it (the two race), is still relayed, with the chain going on
 * normally after it.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { PlcServer } from '@atsuite/plc'
import { FakeAccount, FakePds, POST, post, startTestRelay, testRelayConfig, waitForHostCursor } from '@atsuite/dev-env'
import type { RelayServer } from '@atsuite/relay'
import { consume, requestCrawl, xrpcGet } from './_net.ts'

let dir: string
let plc: PlcServer
let fake: FakePds
let elsewhere: FakePds
let relay: RelayServer

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-enumerate-'))
  plc = await PlcServer.create({ port: 0, host: '127.0.0.1', dbLocation: path.join(dir, 'plc.sqlite') })
  await plc.start()
  fake = await FakePds.start()
  elsewhere = await FakePds.start()
  relay = await startTestRelay(testRelayConfig(plc.url, path.join(dir, 'relay')))
})

afterAll(async () => {
  await relay?.destroy()
  await fake?.close()
  await elsewhere?.close()
  await plc?.destroy()
  if (dir) await fs.rm(dir, { recursive: true, force: true })
})

test("a new host's existing accounts are listed, checked against their DID documents, and raced commits still relayed", async () => {
  // accounts that wrote before the relay ever heard of the host (nothing on its stream yet)
  const accounts: FakeAccount[] = []
  for (let i = 0; i < 3; i++) {
    const a = await FakeAccount.create(plc.url, fake.url)
    await a.commit([{ action: 'create', collection: POST, rkey: `old${i}`, record: post(`before the crawl ${i}`) }])
    fake.repos.set(a.did, a)
    accounts.push(a)
  }
  accounts[2].active = false
  accounts[2].status = 'deactivated'
  // the last commit of accounts[0] is listed, but its event reaches the relay only after the listing
  const raced = await accounts[0].commit([{ action: 'create', collection: POST, rkey: 'raced', record: post('raced') }])
  // listed by this host, but its DID document names another one
  const impostor = await FakeAccount.create(plc.url, elsewhere.url)
  fake.repos.set(impostor.did, impostor)

  expect((await requestCrawl(relay, fake.hostname)).status).toBe(200)
  await fake.waitForSubscribers(1)
  const deadline = Date.now() + 10_000
  while (relay.ctx.hosts.status(fake.hostname)?.enumeration?.state !== 'done') {
    if (Date.now() > deadline) throw new Error(`enumeration: ${JSON.stringify(relay.ctx.hosts.status(fake.hostname)?.enumeration)}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  expect(relay.ctx.hosts.status(fake.hostname)!.enumeration).toEqual({ state: 'done', listed: 4, adopted: 3, refused: 1 })
  expect(relay.ctx.hosts.status(fake.hostname)!.accountCount).toBe(3)

  for (const a of accounts.slice(0, 2)) {
    const st = await xrpcGet(relay.url, 'com.atproto.sync.getRepoStatus', { did: a.did })
    expect(st).toEqual({ status: 200, body: { did: a.did, active: true, rev: a.head().rev } })
  }
  const inactive = await xrpcGet(relay.url, 'com.atproto.sync.getRepoStatus', { did: accounts[2].did })
  expect(inactive.body).toMatchObject({ did: accounts[2].did, active: false, status: 'deactivated' })
  const refused = await xrpcGet(relay.url, 'com.atproto.sync.getRepoStatus', { did: impostor.did })
  expect(refused.status).toBe(400)
  const listed = await xrpcGet(relay.url, 'com.atproto.sync.listRepos', { limit: '100' })
  expect(listed.body.repos.map((r: { did: string }) => r.did).sort()).toEqual(accounts.map((a) => a.did).sort())
  // and their collections (describeRepo on the host), for listReposByCollection
  const byCollection = await xrpcGet(relay.url, 'com.atproto.sync.listReposByCollection', { collection: POST })
  expect(byCollection.body.repos.map((r: { did: string }) => r.did).sort()).toEqual(accounts.map((a) => a.did).sort())
  const head0 = listed.body.repos.find((r: { did: string }) => r.did === accounts[0].did)
  expect(head0).toMatchObject({ head: raced.cid.toString(), rev: raced.rev, active: true })

  // the raced commit (already counted by the listing) and the next one both reach consumers
  const consumer = await consume(relay, relay.ctx.eventLog.currentSeq)
  try {
    fake.emit('#commit', raced.body)
    const next = await accounts[0].commit([{ action: 'create', collection: POST, rkey: 'after', record: post('after the crawl') }])
    const seq = fake.emit('#commit', next.body)
    await waitForHostCursor(relay, fake.hostname, seq)
    await consumer.waitUntil((c) => c.commitCids(accounts[0].did).length >= 2, 10_000, 'both commits')
    expect(consumer.commitCids(accounts[0].did)).toEqual([raced.cid.toString(), next.cid.toString()])
    expect(relay.ctx.hosts.status(fake.hostname)!.dropped.chain_break).toBe(0)
    // a replay of the head now is skipped as usual
    fake.emit('#commit', next.body)
    const again = fake.emit('#commit', next.body)
    await waitForHostCursor(relay, fake.hostname, again)
    expect(consumer.commitCids(accounts[0].did)).toHaveLength(2)
  } finally {
    consumer.close()
  }
})
