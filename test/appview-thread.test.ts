/**
 * getPostThread as clients use it: depth and parentHeight, parents that are
 * gone (notFoundPost) or blocked (blockedPost), replies by blocked authors
 * left out, threadgates applied when the thread is read (mention, following,
 * list rules, no replies at all, hidden replies), and postgates detaching a
 * quote.
 */
import type { AppBskyFeedThreadgate } from '@atproto/api'
import { TestNetwork, type TestUser } from '@atsuite/dev-env'

let net: TestNetwork
let alice: TestUser
let bob: TestUser
let carol: TestUser
let dan: TestUser

beforeAll(async () => {
  net = await TestNetwork.create({ appview: true })
  ;[alice, bob, carol, dan] = await Promise.all(['alice', 'bob', 'carol', 'dan'].map((n) => net.createUser(n)))
})

afterAll(async () => {
  await net?.close()
})

type Ref = { uri: string; cid: string }
type Node = { $type?: string; post?: { uri: string }; parent?: Node; replies?: Node[]; uri?: string; notFound?: boolean; blocked?: boolean }

const reply = (u: TestUser, root: Ref, parent: Ref, text: string) => u.agent.post({ text, reply: { root, parent } })
const thread = async (viewer: TestUser, uri: string, params: { depth?: number; parentHeight?: number } = {}): Promise<Node> =>
  (await viewer.agent.getPostThread({ uri, ...params })).data.thread as Node

const parents = (n: Node): string[] => (n.parent ? [n.parent.post?.uri ?? n.parent.$type ?? '', ...parents(n.parent)] : [])
const replyUris = (n: Node): string[] => (n.replies ?? []).map((r) => r.post?.uri ?? r.$type ?? '')
const levels = (n: Node): number => (n.replies?.length ? 1 + Math.max(...n.replies.map(levels)) : 0)

test('depth and parentHeight bound the thread around the anchor', async () => {
  const root = await alice.agent.post({ text: 'root' })
  let parent: Ref = root
  const chain: Ref[] = [root]
  for (let i = 0; i < 5; i++) {
    parent = await reply(i % 2 ? alice : bob, root, parent, `reply ${i}`)
    chain.push(parent)
  }
  await net.processAll()
  const mid = chain[3]!
  const full = await thread(carol, mid.uri)
  expect(parents(full)).toEqual([chain[2]!.uri, chain[1]!.uri, chain[0]!.uri])
  expect(levels(full)).toBe(2)
  const cut = await thread(carol, mid.uri, { parentHeight: 1, depth: 1 })
  expect(parents(cut)).toEqual([chain[2]!.uri])
  expect(levels(cut)).toBe(1)
  const bare = await thread(carol, mid.uri, { parentHeight: 0, depth: 0 })
  expect(bare.parent).toBeUndefined()
  expect(bare.replies ?? []).toEqual([])
})

test('a deleted parent is notFound, a blocked one blockedPost; blocked repliers are left out', async () => {
  const root = await alice.agent.post({ text: 'gone soon' })
  const b = await reply(bob, root, root, 'bob replies')
  const c = await reply(carol, root, b, 'carol replies to bob')
  const d = await reply(dan, root, b, 'dan replies to bob')
  await alice.agent.deletePost(root.uri)
  // dan blocks carol
  await dan.agent.app.bsky.graph.block.create({ repo: dan.did }, { subject: carol.did, createdAt: new Date().toISOString() })
  await net.processAll()

  const fromBob = await thread(dan, b.uri)
  expect(fromBob.parent).toMatchObject({ $type: 'app.bsky.feed.defs#notFoundPost', uri: root.uri, notFound: true })
  expect(replyUris(fromBob)).toEqual([d.uri]) // carol's reply is hidden from dan

  const fromCarol = await thread(dan, c.uri)
  expect(fromCarol).toMatchObject({ $type: 'app.bsky.feed.defs#blockedPost', uri: c.uri, blocked: true })
  const carolSees = await thread(carol, d.uri)
  expect(carolSees).toMatchObject({ $type: 'app.bsky.feed.defs#blockedPost' })
})

test('threadgates decide whose replies show: mentioned, followed, listed, nobody, hidden', async () => {
  type Allow = NonNullable<AppBskyFeedThreadgate.Record['allow']>
  const gate = async (root: Ref, allow: Allow | undefined, hiddenReplies?: string[]) => {
    const rkey = root.uri.split('/').pop()!
    await alice.agent.app.bsky.feed.threadgate.create(
      { repo: alice.did, rkey },
      { post: root.uri, createdAt: new Date().toISOString(), ...(allow ? { allow } : {}), ...(hiddenReplies ? { hiddenReplies } : {}) },
    )
  }
  // mentions: only bob (mentioned) may reply
  const m = await alice.agent.post({
    text: 'hi @bob.test',
    facets: [{ index: { byteStart: 3, byteEnd: 12 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: bob.did }] }],
  })
  await gate(m, [{ $type: 'app.bsky.feed.threadgate#mentionRule' }])
  const mb = await reply(bob, m, m, 'mentioned')
  await reply(carol, m, m, 'not mentioned')
  // following: alice follows dan only
  await alice.agent.follow(dan.did)
  const f = await alice.agent.post({ text: 'for people I follow' })
  await gate(f, [{ $type: 'app.bsky.feed.threadgate#followingRule' }])
  const fd = await reply(dan, f, f, 'followed')
  await reply(carol, f, f, 'not followed')
  // a list: carol is on it
  const list = await alice.agent.app.bsky.graph.list.create(
    { repo: alice.did },
    { purpose: 'app.bsky.graph.defs#curatelist', name: 'allowed', createdAt: new Date().toISOString() },
  )
  await alice.agent.app.bsky.graph.listitem.create({ repo: alice.did }, { list: list.uri, subject: carol.did, createdAt: new Date().toISOString() })
  const l = await alice.agent.post({ text: 'for my list' })
  await gate(l, [{ $type: 'app.bsky.feed.threadgate#listRule', list: list.uri }])
  const lc = await reply(carol, l, l, 'listed')
  await reply(bob, l, l, 'not listed')
  // nobody
  const n = await alice.agent.post({ text: 'no replies' })
  await gate(n, [])
  await reply(bob, n, n, 'ignored')
  const own = await reply(alice, n, n, 'the author may always reply')
  // hidden replies
  const h = await alice.agent.post({ text: 'open, but I hide some' })
  const hidden = await reply(bob, h, h, 'hidden')
  const shown = await reply(carol, h, h, 'shown')
  await gate(h, undefined, [hidden.uri])
  await net.processAll()

  expect(replyUris(await thread(dan, m.uri))).toEqual([mb.uri])
  expect(replyUris(await thread(bob, f.uri))).toEqual([fd.uri])
  expect(replyUris(await thread(alice, l.uri))).toEqual([lc.uri]) // dan blocked carol in the test above
  expect(replyUris(await thread(bob, n.uri))).toEqual([own.uri])
  expect(replyUris(await thread(alice, h.uri))).toEqual([shown.uri])
  const withGate = (await alice.agent.getPostThread({ uri: m.uri })).data
  expect(withGate.threadgate?.uri).toContain('app.bsky.feed.threadgate')
})

test('a postgate detaching a quote turns the quoting post embed into viewDetached', async () => {
  const original = await alice.agent.post({ text: 'do not quote me' })
  const quote = await bob.agent.post({ text: 'quoting', embed: { $type: 'app.bsky.embed.record', record: { uri: original.uri, cid: original.cid } } })
  await net.processAll()
  const before = (await carol.agent.getPosts({ uris: [quote.uri] })).data.posts[0]!.embed
  expect(before).toMatchObject({ record: { $type: 'app.bsky.embed.record#viewRecord', uri: original.uri } })

  await alice.agent.app.bsky.feed.postgate.create(
    { repo: alice.did, rkey: original.uri.split('/').pop()! },
    { post: original.uri, detachedEmbeddingUris: [quote.uri], createdAt: new Date().toISOString() },
  )
  await net.processAll()
  const after = (await carol.agent.getPosts({ uris: [quote.uri] })).data.posts[0]!.embed
  expect(after).toMatchObject({ record: { $type: 'app.bsky.embed.record#viewDetached', uri: original.uri, detached: true } })
})
