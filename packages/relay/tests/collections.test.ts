/**
 * com.atproto.sync.listReposByCollection on the relay, kept from the stream
 * of a real PDS: which accounts have records in a collection, paginated;
 * made exact by a resync; an account deleted leaves every list.
 */
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { xrpcGet } from './_net.ts'

let net: TestNetwork
let alice: TestUser
let bob: TestUser
let carol: TestUser

beforeAll(async () => {
  net = await TestNetwork.create()
  alice = await net.createUser('alice')
  bob = await net.createUser('bob')
  carol = await net.createUser('carol')
})

afterAll(async () => {
  await net?.close()
})

const repos = async (collection: string, extra: Record<string, string> = {}) => {
  const r = await xrpcGet(net.relay!.url, 'com.atproto.sync.listReposByCollection', { collection, ...extra })
  expect(r.status).toBe(200)
  return r.body as { repos: { did: string }[]; cursor?: string }
}
const dids = async (collection: string) => (await repos(collection)).repos.map((r) => r.did).sort()

test('accounts are listed under the collections they write to, with pagination', async () => {
  const hello = await alice.agent.post({ text: 'hello' })
  await bob.agent.post({ text: 'hi' })
  await bob.agent.like(hello.uri, hello.cid)
  await bob.agent.follow(alice.did)
  await carol.agent.upsertProfile((p) => ({ ...p, displayName: 'Carol' }))
  await net.processAll()

  expect(await dids('app.bsky.feed.post')).toEqual([alice.did, bob.did].sort())
  expect(await dids('app.bsky.feed.like')).toEqual([bob.did])
  expect(await dids('app.bsky.graph.follow')).toEqual([bob.did])
  expect(await dids('app.bsky.actor.profile')).toEqual([carol.did])
  expect(await dids('com.example.nothing')).toEqual([])

  const first = await repos('app.bsky.feed.post', { limit: '1' })
  expect(first.repos).toHaveLength(1)
  expect(first.cursor).toBe(first.repos[0].did)
  const second = await repos('app.bsky.feed.post', { limit: '1', cursor: first.cursor! })
  expect([...first.repos, ...second.repos].map((r) => r.did).sort()).toEqual([alice.did, bob.did].sort())
  const third = await repos('app.bsky.feed.post', { limit: '1', cursor: second.repos[0].did })
  expect(third.repos).toEqual([])

  const bad = await xrpcGet(net.relay!.url, 'com.atproto.sync.listReposByCollection', { collection: 'not an nsid' })
  expect(bad.status).toBe(400)
  const limit = await xrpcGet(net.relay!.url, 'com.atproto.sync.listReposByCollection', { collection: 'app.bsky.feed.post', limit: '5000' })
  expect(limit.status).toBe(400)
})

test("a resync makes an account's collections exact; a deleted account leaves every list", async () => {
  // bob's only like goes; the stream cannot tell that the collection is now empty, a resync can
  const likes = await bob.agent.com.atproto.repo.listRecords({ repo: bob.did, collection: 'app.bsky.feed.like' })
  for (const r of likes.data.records) await bob.agent.deleteLike(r.uri)
  await net.processAll()
  const before = net.relay!.ctx.resync.completed
  net.relay!.ctx.resync.request(bob.did as `did:${string}:${string}`, 'test')
  const deadline = Date.now() + 10_000
  while (net.relay!.ctx.resync.completed === before) {
    if (Date.now() > deadline) throw new Error('resync did not complete')
    await new Promise((r) => setTimeout(r, 20))
  }
  expect(await dids('app.bsky.feed.like')).toEqual([])
  expect(await dids('app.bsky.graph.follow')).toEqual([bob.did])

  // carol's account is deleted (by the operator)
  await net.agent().com.atproto.admin.deleteAccount({ did: carol.did }, { headers: net.adminAuthHeaders() })
  await net.processAll()
  expect(await dids('app.bsky.actor.profile')).toEqual([])
})
