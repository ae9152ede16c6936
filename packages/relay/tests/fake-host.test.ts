/**
 * The fake PDS the relay tests and the relay benchmark stand on: what it
 * sends as valid must pass `@atproto/sync`'s verifying Firehose (signature,
 * MST proofs) and what it sends as forged must not — otherwise a relay test
 * that sees a drop proves nothing.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Secp256k1Keypair } from '@atproto/crypto'
import { Client, createOp } from '@did-plc/lib'
import { TestFirehose } from '@atsuite/dev-env'
import { PlcServer } from '@atsuite/plc'
import { FakePds, FakeAccount, POST, post } from '@atsuite/dev-env'
import { RawConsumer } from './_stream.ts'
import { FastRepo, newSigningKey, nowMicros, revMicros } from '../../../scripts/bench/relay-lib/fast-repo.ts'

let dir: string
let plc: PlcServer
let fake: FakePds

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-fake-'))
  plc = await PlcServer.create({ port: 0, host: '127.0.0.1', dbLocation: path.join(dir, 'plc.sqlite') })
  await plc.start()
  fake = await FakePds.start()
})
afterAll(async () => {
  await fake?.close()
  await plc?.destroy()
  if (dir) await fs.rm(dir, { recursive: true, force: true })
})

test('valid commits verify; a forged one is refused by a verifying consumer', async () => {
  const alice = await FakeAccount.create(plc.url, fake.url)
  fake.repos.set(alice.did, alice)
  fake.emit('#sync', await alice.syncBody())
  const c1 = await alice.commit([{ action: 'create', collection: POST, rkey: 'a1', record: post('one') }])
  fake.emit('#commit', c1.body)
  const c2 = await alice.commit([
    { action: 'update', collection: POST, rkey: 'a1', record: post('one, edited') },
    { action: 'create', collection: POST, rkey: 'a2', record: post('two') },
  ])
  fake.emit('#commit', c2.body)
  const forged = await alice.commit([{ action: 'create', collection: POST, rkey: 'x' , record: post('forged') }], {
    signer: await Secp256k1Keypair.create(),
    apply: false,
  })
  fake.emit('#commit', forged.body)
  const c3 = await alice.commit([{ action: 'delete', collection: POST, rkey: 'a2' }])
  fake.emit('#commit', c3.body)

  const firehose = new TestFirehose({ service: fake.url, plcUrl: plc.url, cursor: 0 })
  try {
    await firehose.waitForSeq(fake.seq)
  } finally {
    await firehose.destroy()
  }
  const { events: seen, errors } = firehose
  expect(seen.map((e) => `${e.event}${'uri' in e ? ` ${e.uri.rkey}` : ''}`)).toEqual(['sync', 'create a1', 'update a1', 'create a2', 'delete a2'])
  // the forgery is the only failure
  expect(errors).toHaveLength(1)
  expect(String(errors[0].cause ?? errors[0].message)).toMatch(/signature/i)
})

test('replay from a cursor; raw sends reach only live subscribers', async () => {
  const before = fake.seq
  const bob = await FakeAccount.create(plc.url, fake.url)
  fake.repos.set(bob.did, bob)
  const c = await bob.commit([{ action: 'create', collection: POST, rkey: 'b1', record: post('hi') }])
  fake.emit('#commit', c.body)
  const consumer = new RawConsumer(`ws://localhost:${fake.port}/xrpc/com.atproto.sync.subscribeRepos?cursor=${before}`)
  await consumer.waitUntil((c) => c.frames.length === 1, 5_000, 'replayed frame')
  fake.sendRaw(Uint8Array.from([1, 2, 3]))
  await consumer.waitUntil((c) => c.undecodable === 1, 5_000, 'raw frame')
  expect(consumer.frames[0].body.seq).toBe(before + 1)
  expect(String(consumer.frames[0].body.commit)).toBe(c.cid.toString())
  consumer.close()
  const res = await fetch(`${fake.url}/xrpc/com.atproto.sync.getLatestCommit?did=${bob.did}`)
  expect(await res.json()).toEqual({ cid: c.cid.toString(), rev: c.rev })
})

test("the relay benchmark's fast commits verify too (signature, MST proofs, scheduled revs)", async () => {
  const key = await newSigningKey()
  const rotation = await Secp256k1Keypair.create()
  const { op, did } = await createOp({ signingKey: key.didKey, handle: 'fast.test', pds: fake.url, rotationKeys: [rotation.did()], signer: rotation as never })
  await new Client(plc.url).sendOperation(did, op as never)
  const repo = FastRepo.create(did, key.priv, 7)
  await repo.checkAgainstReference(key.didKey)
  const before = fake.seq
  fake.emit('#sync', repo.syncBody())
  const t = nowMicros()
  const revs: string[] = []
  for (let i = 0; i < 6; i++) {
    const b = repo.next(t + i * 1000)
    revs.push(b.rev)
    fake.emit('#commit', b.body)
  }
  await repo.checkAgainstReference(key.didKey)
  expect(revs.map(revMicros)).toEqual([0, 1, 2, 3, 4, 5].map((i) => t + i * 1000))

  const firehose = new TestFirehose({ service: fake.url, plcUrl: plc.url, cursor: before })
  try {
    await firehose.waitForSeq(fake.seq)
  } finally {
    await firehose.destroy()
  }
  const { events: seen, errors } = firehose
  expect(errors).toEqual([])
  expect(seen.map((e) => e.event)).toEqual(['sync', 'update', 'update', 'update', 'update', 'update', 'update'])
  expect(seen.slice(1).map((e) => (e as { rev: string }).rev)).toEqual(revs)
})
