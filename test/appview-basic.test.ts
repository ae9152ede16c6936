/**
 * The app view on the whole network (PDS → relay → app view): writes made
 * through AtpAgent on the PDS show in profiles, threads, timelines and
 * author feeds with exact counts and the viewer's state.
 */
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { appviewGet } from './_appview.ts'

let net: TestNetwork
let alice: TestUser
let bob: TestUser
let carol: TestUser

beforeAll(async () => {
  net = await TestNetwork.create({ appview: true })
  alice = await net.createUser('alice')
  bob = await net.createUser('bob')
  carol = await net.createUser('carol')
})

afterAll(async () => {
  await net?.close()
})

test('profile, thread, timeline and author feed reflect posts, replies, likes, reposts and follows', async () => {
  await alice.agent.upsertProfile(() => ({ displayName: 'Alice', description: 'first user' }))
  const root = await alice.agent.post({ text: 'hello from alice' })
  await bob.agent.follow(alice.did)
  await carol.agent.follow(alice.did)
  await bob.agent.like(root.uri, root.cid)
  await carol.agent.like(root.uri, root.cid)
  const ref = { uri: root.uri, cid: root.cid }
  const reply = await bob.agent.post({ text: 'hi alice', reply: { root: ref, parent: ref } })
  await carol.agent.repost(root.uri, root.cid)
  await net.processAll()

  const profile = await appviewGet(net, bob, 'app.bsky.actor.getProfile', { actor: 'alice.test' })
  expect(profile.status).toBe(200)
  expect(profile.body).toMatchObject({ did: alice.did, handle: 'alice.test', displayName: 'Alice', followersCount: 2, followsCount: 0, postsCount: 1 })
  expect(profile.body.viewer.following).toMatch(/^at:\/\//)

  const thread = await appviewGet(net, bob, 'app.bsky.feed.getPostThread', { uri: root.uri })
  expect(thread.status).toBe(200)
  expect(thread.body.thread.post).toMatchObject({ uri: root.uri, likeCount: 2, replyCount: 1, repostCount: 1 })
  expect(thread.body.thread.post.viewer.like).toMatch(/^at:\/\//)
  expect(thread.body.thread.replies.map((r: any) => r.post.uri)).toEqual([reply.uri])

  const timeline = await appviewGet(net, bob, 'app.bsky.feed.getTimeline')
  expect(timeline.status).toBe(200)
  expect(timeline.headers.get('atproto-repo-rev')).toBeTruthy()
  // bob follows alice: her post, and his own reply
  expect(timeline.body.feed.map((f: any) => f.post.uri).sort()).toEqual([root.uri, reply.uri].sort())

  const carolFeed = await appviewGet(net, null, 'app.bsky.feed.getAuthorFeed', { actor: carol.did })
  expect(carolFeed.body.feed).toHaveLength(1)
  expect(carolFeed.body.feed[0].reason).toMatchObject({ $type: 'app.bsky.feed.defs#reasonRepost' })
  expect(carolFeed.body.feed[0].post.uri).toBe(root.uri)
})

test('a timeline needs a viewer; a malformed cursor is a 400', async () => {
  const anon = await appviewGet(net, null, 'app.bsky.feed.getTimeline')
  expect(anon.status).toBe(401)
  const bad = await appviewGet(net, bob, 'app.bsky.feed.getTimeline', { cursor: 'nonsense' })
  expect(bad.status).toBe(400)
  expect(bad.body.error).toBe('InvalidRequest')
})
