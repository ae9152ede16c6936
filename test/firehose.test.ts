/**
 * A write made through AtpAgent on the PDS reaches a verifying
 * `@atproto/sync` Firehose subscribed to the relay: account creation,
 * creates, an update, a delete and a multi-op commit, with their paths,
 * CIDs and record values.
 */
import { TestNetwork, type TestFirehose } from '@atsuite/dev-env'
import { POST, describeWrite, orderDefect, post, relayConsumer, rkeyOf, writesOf } from './_util.ts'

const PROFILE = 'app.bsky.actor.profile'

let net: TestNetwork
let consumer: TestFirehose

beforeAll(async () => {
  net = await TestNetwork.create()
  consumer = relayConsumer(net, 0)
})

afterAll(async () => {
  await consumer?.destroy()
  await net?.close()
})

test('create, update, delete and a multi-op commit arrive verified, once, in order, with their contents', async () => {
  const alice = await net.createUser('alice')
  const { agent, did } = alice

  const first = await post(agent, 'hello from alice')
  const profile = await agent.com.atproto.repo.putRecord({
    repo: did,
    collection: PROFILE,
    rkey: 'self',
    record: { $type: PROFILE, displayName: 'Alice' },
  })
  const edited = await agent.com.atproto.repo.putRecord({
    repo: did,
    collection: POST,
    rkey: rkeyOf(first.uri),
    record: { $type: POST, text: 'hello, edited', createdAt: new Date().toISOString() },
  })
  const second = await post(agent, 'second post')
  const batch = await agent.com.atproto.repo.applyWrites({
    repo: did,
    writes: [
      { $type: 'com.atproto.repo.applyWrites#create', collection: POST, value: { $type: POST, text: 'in a batch', createdAt: new Date().toISOString() } },
      { $type: 'com.atproto.repo.applyWrites#delete', collection: POST, rkey: rkeyOf(second.uri) },
    ],
  })
  const batchCreate = batch.data.results![0] as { uri: string; cid: string }
  await agent.com.atproto.repo.deleteRecord({ repo: did, collection: POST, rkey: rkeyOf(first.uri) })

  await consumer.waitForSeq(await net.processAll())
  expect(consumer.errors).toEqual([])
  expect(orderDefect(consumer.events)).toBeNull()

  // the account's announcement, as the PDS sends it
  const mine = consumer.events.filter((e) => e.did === did)
  expect(mine.slice(0, 3).map((e) => e.event)).toEqual(['identity', 'account', 'sync'])
  expect(mine[1]).toMatchObject({ event: 'account', active: true })

  const batchUri = batchCreate.uri
  const writes = writesOf(consumer.events, did)
  expect(writes.map(describeWrite)).toEqual([
    `create ${first.uri}`,
    `create at://${did}/${PROFILE}/self`,
    `update ${first.uri}`,
    `create ${second.uri}`,
    `create ${batchUri}`,
    `delete ${second.uri}`,
    `delete ${first.uri}`,
  ])
  const [c1, cProfile, u1, c2, cBatch, dBatch, d1] = writes
  expect(c1).toMatchObject({ collection: POST, rkey: rkeyOf(first.uri), record: { $type: POST, text: 'hello from alice' } })
  expect(cProfile).toMatchObject({ collection: PROFILE, rkey: 'self', record: { $type: PROFILE, displayName: 'Alice' } })
  expect(u1).toMatchObject({ record: { $type: POST, text: 'hello, edited' } })
  expect(c2).toMatchObject({ record: { text: 'second post' } })
  expect(cBatch).toMatchObject({ record: { text: 'in a batch' } })
  const cids = writes.map((e) => (e.event === 'delete' ? null : e.cid.toString()))
  expect(cids).toEqual([first.cid, profile.data.cid, edited.data.cid, second.cid, batchCreate.cid, null, null])
  for (const d of [dBatch, d1]) expect(d).not.toHaveProperty('record')

  // one commit per call, the batch's two ops in one; revs grow with the commits
  expect(cBatch.commit.toString()).toBe(dBatch.commit.toString())
  expect(cBatch.seq).toBe(dBatch.seq)
  expect(cBatch.rev).toBe(batch.data.commit!.rev)
  const commits = [c1, cProfile, u1, c2, cBatch, d1]
  expect(new Set(commits.map((e) => e.commit.toString())).size).toBe(commits.length)
  const revs = commits.map((e) => e.rev)
  expect(revs).toEqual([...revs].sort())
  expect(new Set(revs).size).toBe(revs.length)

  // the last commit seen is the repo's head on the PDS and on the relay
  const head = await agent.com.atproto.sync.getLatestCommit({ did })
  expect({ cid: d1.commit.toString(), rev: d1.rev }).toEqual(head.data)
  const relayHead = await fetch(`${net.relay.url}/xrpc/com.atproto.sync.getLatestCommit?did=${did}`)
  expect(await relayHead.json()).toEqual(head.data)
})
