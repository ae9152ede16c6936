/**
 * What a Bluesky client does, end to end: three users, each an AtpAgent
 * logged in on our PDS and nothing else (every app.bsky read goes PDS → app
 * view with the user's service JWT). They post, reply, quote, mention, like,
 * repost, follow, block, mute, upload images, edit profiles, delete posts,
 * make a list and a feed generator record; every view returns what a client
 * expects — contents, order, counts, viewer state, paging — and every
 * response is validated against its lexicon on the way out of the app view
 * and the PDS.
 */
import type { AtpAgent } from '@atproto/api'
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { TestFeedGen } from './_feedgen.ts'
import { PNG } from './_util.ts'


let net: TestNetwork
let alice: TestUser
let bob: TestUser
let carol: TestUser
let gen: TestFeedGen

beforeAll(async () => {
  net = await TestNetwork.create({ appview: true })
  alice = await net.createUser('alice')
  bob = await net.createUser('bob')
  carol = await net.createUser('carol')
  gen = await TestFeedGen.start(net.plc.url)
})

afterAll(async () => {
  await gen?.close()
  await net?.close()
})

const ref = (p: { uri: string; cid: string }) => ({ uri: p.uri, cid: p.cid })
const uris = (feed: { post: { uri: string } }[]) => feed.map((f) => f.post.uri)

/** Every page of a paginated list method, with a small limit, each item once. */
const allPages = async <T>(fetchPage: (cursor?: string) => Promise<{ items: T[]; cursor?: string }>): Promise<T[]> => {
  const out: T[] = []
  let cursor: string | undefined
  for (let i = 0; i < 50; i++) {
    const page = await fetchPage(cursor)
    out.push(...page.items)
    if (!page.cursor) return out
    cursor = page.cursor
  }
  throw new Error('paging did not end')
}

test('a three-person conversation, as a client sees it', async () => {
  const a: AtpAgent = alice.agent
  const b: AtpAgent = bob.agent
  const c: AtpAgent = carol.agent

  // profiles with avatars
  const avatar = (await a.uploadBlob(PNG, { encoding: 'image/png' })).data.blob
  await a.upsertProfile(() => ({ displayName: 'Alice', description: 'writes first', avatar }))
  await b.upsertProfile(() => ({ displayName: 'Bob' }))
  await c.upsertProfile(() => ({ displayName: 'Carol' }))
  // follows: bob and carol follow alice, alice follows bob
  await b.follow(alice.did)
  await c.follow(alice.did)
  await a.follow(bob.did)

  // alice posts with an image, mentions bob; bob replies; carol quotes; likes and a repost
  const img = (await a.uploadBlob(PNG, { encoding: 'image/png' })).data.blob
  const root = await a.post({
    text: 'hello @bob.test',
    facets: [{ index: { byteStart: 6, byteEnd: 15 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: bob.did }] }],
    embed: { $type: 'app.bsky.embed.images', images: [{ image: img, alt: 'a pixel' }] },
  })
  const reply = await b.post({ text: 'hi alice', reply: { root: ref(root), parent: ref(root) } })
  const quote = await c.post({ text: 'look at this', embed: { $type: 'app.bsky.embed.record', record: ref(root) } })
  await b.like(root.uri, root.cid)
  await c.like(root.uri, root.cid)
  await c.repost(root.uri, root.cid)
  const doomed = await a.post({ text: 'I will delete this' })
  await a.deletePost(doomed.uri)
  await net.processAll()

  // alice's view of her own profile
  const profile = (await a.getProfile({ actor: alice.did })).data
  expect(profile).toMatchObject({ handle: 'alice.test', displayName: 'Alice', description: 'writes first', followersCount: 2, followsCount: 1, postsCount: 1 })
  expect(profile.avatar).toContain('/img/avatar/')
  expect((await fetch(profile.avatar!)).status).toBe(200)
  // bob's view of alice: following her, followed by her
  const seenByBob = (await b.getProfile({ actor: 'alice.test' })).data
  expect(seenByBob.viewer?.following).toBeTruthy()
  expect(seenByBob.viewer?.followedBy).toBeTruthy()

  // the thread: counts, embed, viewer state, the reply
  const thread = (await b.getPostThread({ uri: root.uri })).data.thread
  if (!('post' in thread)) throw new Error('expected a thread view')
  expect(thread.post).toMatchObject({ likeCount: 2, repostCount: 1, replyCount: 1, quoteCount: 1 })
  expect(thread.post.viewer?.like).toBeTruthy()
  expect(thread.post.embed?.$type).toBe('app.bsky.embed.images#view')
  expect((thread.replies ?? []).map((r) => ('post' in r ? r.post.uri : ''))).toEqual([reply.uri])

  // bob's timeline: alice's post, his reply (with its reply context), carol's repost is not there (he does not follow her)
  const tl = (await b.getTimeline({ limit: 10 })).data
  expect(uris(tl.feed)).toEqual([reply.uri, root.uri])
  expect(tl.feed[0]!.reply?.parent).toMatchObject({ uri: root.uri })

  // alice's author feed filters
  const noReplies = (await b.getAuthorFeed({ actor: bob.did, filter: 'posts_no_replies' })).data.feed
  expect(noReplies).toEqual([])
  const withMedia = (await b.getAuthorFeed({ actor: alice.did, filter: 'posts_with_media' })).data.feed
  expect(uris(withMedia)).toEqual([root.uri])
  const carolFeed = (await a.getAuthorFeed({ actor: carol.did })).data.feed
  expect(carolFeed.map((f) => [f.post.uri, f.reason?.$type ?? null])).toEqual([
    [root.uri, 'app.bsky.feed.defs#reasonRepost'],
    [quote.uri, null],
  ])
  expect(carolFeed[1]!.post.embed?.$type).toBe('app.bsky.embed.record#view')

  // who liked, reposted, quoted
  expect((await a.getLikes({ uri: root.uri })).data.likes.map((l) => l.actor.did).sort()).toEqual([bob.did, carol.did].sort())
  expect((await a.getRepostedBy({ uri: root.uri })).data.repostedBy.map((p) => p.did)).toEqual([carol.did])
  expect((await a.app.bsky.feed.getQuotes({ uri: root.uri })).data.posts.map((p) => p.uri)).toEqual([quote.uri])
  expect((await b.app.bsky.feed.getActorLikes({ actor: bob.did })).data.feed.map((f) => f.post.uri)).toEqual([root.uri])

  // notifications: alice hears of the follows, the reply, the quote, the likes and the repost; bob of the mention and the follow
  const aliceNotifs = (await a.listNotifications()).data.notifications
  expect(aliceNotifs.map((n) => n.reason).sort()).toEqual(['follow', 'follow', 'like', 'like', 'quote', 'reply', 'repost'].sort())
  expect((await a.countUnreadNotifications()).data.count).toBe(7)
  await a.updateSeenNotifications()
  expect((await a.countUnreadNotifications()).data.count).toBe(0)
  const bobNotifs = (await b.listNotifications()).data.notifications
  expect(bobNotifs.map((n) => n.reason).sort()).toEqual(['follow', 'mention'])

  // the deleted post is nowhere
  expect((await a.getPosts({ uris: [doomed.uri, root.uri] })).data.posts.map((p) => p.uri)).toEqual([root.uri])

  // search
  expect((await b.app.bsky.feed.searchPosts({ q: 'hello' })).data.posts.map((p) => p.uri)).toEqual([root.uri])
  expect((await b.searchActorsTypeahead({ q: 'ali' })).data.actors.map((x) => x.did)).toContain(alice.did)
  expect((await b.app.bsky.graph.getFollowers({ actor: alice.did })).data.followers.map((p) => p.did).sort()).toEqual([bob.did, carol.did].sort())
})

test('blocks hide content both ways, mutes hide it from the muter, and both show in viewer state', async () => {
  const hey = await carol.agent.post({ text: 'carol again' })
  await bob.agent.follow(carol.did)
  await net.processAll()
  expect(uris((await bob.agent.getTimeline()).data.feed)).toContain(hey.uri)

  await bob.agent.mute(carol.did)
  await net.processAll()
  expect(uris((await bob.agent.getTimeline()).data.feed)).not.toContain(hey.uri)
  expect((await bob.agent.app.bsky.graph.getMutes()).data.mutes.map((m) => m.did)).toEqual([carol.did])
  expect((await bob.agent.getProfile({ actor: carol.did })).data.viewer?.muted).toBe(true)
  await bob.agent.unmute(carol.did)

  const block = await carol.agent.app.bsky.graph.block.create({ repo: carol.did }, { subject: bob.did, createdAt: new Date().toISOString() })
  await net.processAll()
  // carol blocked bob: bob sees none of her posts, and she sees none of his
  expect(uris((await bob.agent.getTimeline()).data.feed)).not.toContain(hey.uri)
  expect((await bob.agent.getProfile({ actor: carol.did })).data.viewer?.blockedBy).toBe(true)
  const blocked = await bob.agent.getAuthorFeed({ actor: carol.did }).then(
    () => null,
    (err: { error?: string }) => err.error,
  )
  expect(blocked).toBe('BlockedByActor')
  expect((await carol.agent.app.bsky.graph.getBlocks()).data.blocks.map((p) => p.did)).toEqual([bob.did])
  const rel = (await alice.agent.app.bsky.graph.getRelationships({ actor: carol.did, others: [bob.did] })).data
  expect(rel.relationships[0]).toMatchObject({ did: bob.did })

  await carol.agent.app.bsky.graph.block.delete({ repo: carol.did, rkey: block.uri.split('/').pop()! })
  await net.processAll()
  expect(uris((await bob.agent.getTimeline()).data.feed)).toContain(hey.uri)
})

test('lists and feed generators made through the PDS are served with their members and posts', async () => {
  const list = await alice.agent.app.bsky.graph.list.create(
    { repo: alice.did },
    { purpose: 'app.bsky.graph.defs#curatelist', name: 'friends', description: 'people I like', createdAt: new Date().toISOString() },
  )
  for (const u of [bob, carol]) {
    await alice.agent.app.bsky.graph.listitem.create({ repo: alice.did }, { subject: u.did, list: list.uri, createdAt: new Date().toISOString() })
  }
  const feedRecord = await alice.agent.app.bsky.feed.generator.create(
    { repo: alice.did, rkey: 'best' },
    { did: gen.did, displayName: 'Best of', description: 'the best', createdAt: new Date().toISOString() },
  )
  const fresh = await bob.agent.post({ text: 'for the list feed' })
  gen.feeds.set(feedRecord.uri, () => ({ feed: [{ post: fresh.uri }] }))
  await bob.agent.like(feedRecord.uri, feedRecord.cid)
  await net.processAll()

  const got = (await carol.agent.app.bsky.graph.getList({ list: list.uri })).data
  expect(got.list).toMatchObject({ name: 'friends', listItemCount: 2 })
  expect(got.items.map((i) => i.subject.did).sort()).toEqual([bob.did, carol.did].sort())
  expect((await carol.agent.app.bsky.graph.getLists({ actor: alice.did })).data.lists.map((l) => l.uri)).toEqual([list.uri])
  expect(uris((await carol.agent.app.bsky.feed.getListFeed({ list: list.uri })).data.feed)).toContain(fresh.uri)

  const fg = (await bob.agent.app.bsky.feed.getFeedGenerator({ feed: feedRecord.uri })).data
  expect(fg.view).toMatchObject({ displayName: 'Best of', likeCount: 1, did: gen.did })
  expect(fg.view.viewer?.like).toBeTruthy()
  expect(fg.isValid).toBe(true)
  const feed = (await bob.agent.app.bsky.feed.getFeed({ feed: feedRecord.uri })).data
  expect(uris(feed.feed)).toEqual([fresh.uri])
  // the generator got bob's token, minted by his PDS for it
  expect(gen.received.at(-1)?.claims).toMatchObject({ iss: bob.did, aud: gen.did, lxm: 'app.bsky.feed.getFeedSkeleton' })
})

test('paging followers and notifications with small limits yields each item once, in order', async () => {
  const fans: TestUser[] = []
  for (let i = 0; i < 7; i++) fans.push(await net.createUser(`fan${i}`))
  for (const f of fans) await f.agent.follow(carol.did)
  await net.processAll()

  const followers = await allPages(async (cursor) => {
    const res = (await alice.agent.app.bsky.graph.getFollowers({ actor: carol.did, limit: 3, cursor })).data
    return { items: res.followers.map((p) => p.did), cursor: res.cursor }
  })
  // newest first: the fans in reverse, then bob from the previous test
  expect(followers).toEqual([...fans.map((f) => f.did).reverse(), bob.did])

  const notifs = await allPages(async (cursor) => {
    const res = (await carol.agent.listNotifications({ limit: 2, cursor })).data
    return { items: res.notifications.map((n) => n.uri), cursor: res.cursor }
  })
  expect(new Set(notifs).size).toBe(notifs.length)
  expect(notifs.length).toBeGreaterThanOrEqual(8)
})
