/**
 * Custom feeds on the whole network: a feed generator record written through
 * AtpAgent is served by getFeedGenerator(s) / getActorFeeds with its like
 * count and the viewer's like; getFeed resolves the record's generator DID
 * (a did:web on loopback) to its `#bsky_fg` service, calls a real generator
 * (test/_feedgen.ts) with the viewer's PDS-minted token, and hydrates what it
 * answers like a timeline. Generators that fail, hang or answer junk give a
 * 502 UpstreamFailure; feeds nobody serves a 400 UnknownFeed.
 */
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { appviewGet, serviceAuth } from './_appview.ts'
import { TestFeedGen, type FeedGenMode, type SkeletonPost } from './_feedgen.ts'

const FEEDGEN_TIMEOUT_MS = 1500
const SKELETON = 'app.bsky.feed.getFeedSkeleton'

let net: TestNetwork
let alice: TestUser // creates the feeds
let bob: TestUser // reads them
let carol: TestUser // posts and reposts
let dan: TestUser // blocked by bob
let erin: TestUser // muted by bob
let gen: TestFeedGen
let broken: TestFeedGen
let offline: TestFeedGen
const feeds: Record<string, { uri: string; cid: string }> = {}
const posts: Record<string, { uri: string; cid: string }> = {}
let repostUri: string

const createFeed = async (user: TestUser, rkey: string, did: string, displayName: string) => {
  const res = await user.agent.com.atproto.repo.createRecord({
    repo: user.did,
    collection: 'app.bsky.feed.generator',
    rkey,
    record: { $type: 'app.bsky.feed.generator', did, displayName, description: `${displayName} feed`, createdAt: new Date().toISOString() },
  })
  return { uri: res.data.uri, cid: res.data.cid }
}

/** getFeed as the PDS calls it: a token minted for the generator (aud = its DID, lxm = getFeedSkeleton). */
const getFeed = async (user: TestUser | null, feed: string, params: Record<string, string | number> = {}, audience?: string) => {
  const qs = new URLSearchParams({ feed, ...Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])) })
  let headers: Record<string, string> = {}
  if (user) {
    const res = await user.agent.com.atproto.server.getServiceAuth({ aud: audience ?? gen.did, lxm: SKELETON })
    headers = { authorization: `Bearer ${res.data.token}` }
  }
  const res = await fetch(`${net.appview.url}/xrpc/app.bsky.feed.getFeed?${qs}`, { headers })
  const body: any = await res.json()
  return { status: res.status, body }
}

beforeAll(async () => {
  net = await TestNetwork.create({ appview: { env: { APPVIEW_FEEDGEN_TIMEOUT_MS: String(FEEDGEN_TIMEOUT_MS) } } })
  ;[alice, bob, carol, dan, erin] = await Promise.all(['alice', 'bob', 'carol', 'dan', 'erin'].map((n) => net.createUser(n)))
  gen = await TestFeedGen.start(net.plc.url)
  broken = await TestFeedGen.start(net.plc.url)
  offline = await TestFeedGen.start(net.plc.url)

  posts.alice = await alice.agent.post({ text: 'alice on cats' })
  posts.carol1 = await carol.agent.post({ text: 'carol: cats are great' })
  posts.carol2 = await carol.agent.post({ text: 'carol: more cats' })
  posts.dan = await dan.agent.post({ text: 'dan: cats too' })
  posts.erin = await erin.agent.post({ text: 'erin: muted cats' })
  repostUri = (await carol.agent.repost(posts.alice.uri, posts.alice.cid)).uri
  await bob.agent.app.bsky.graph.block.create({ repo: bob.did }, { subject: dan.did, createdAt: new Date().toISOString() })

  feeds.cats = await createFeed(alice, 'cats', gen.did, 'Cats')
  feeds.dogs = await createFeed(alice, 'dogs', gen.did, 'Dogs') // the generator does not serve it
  feeds.broken = await createFeed(alice, 'broken', broken.did, 'Broken')
  feeds.offline = await createFeed(alice, 'offline', offline.did, 'Offline')
  feeds.dans = await createFeed(dan, 'dans', gen.did, 'Dan picks')
  feeds.bobs = await createFeed(bob, 'bobs', gen.did, 'Bob picks')
  await bob.agent.like(feeds.cats.uri, feeds.cats.cid)
  await carol.agent.like(feeds.cats.uri, feeds.cats.cid)
  await net.processAll()
  // mutes are private to the app view
  const mute = await fetch(`${net.appview.url}/xrpc/app.bsky.graph.muteActor`, {
    method: 'POST',
    headers: { ...(await serviceAuth(net, bob, 'app.bsky.graph.muteActor')), 'content-type': 'application/json' },
    body: JSON.stringify({ actor: erin.did }),
  })
  expect(mute.status).toBe(200)

  // two pages: the cursor is the generator's own
  const page1: SkeletonPost[] = [
    { post: posts.carol1.uri, feedContext: 'ctx-1' },
    { post: posts.alice.uri, reason: { $type: 'app.bsky.feed.defs#skeletonReasonRepost', repost: repostUri } },
    { post: posts.dan.uri }, // bob blocks dan
    { post: posts.erin.uri }, // bob muted erin
    { post: `at://${carol.did}/app.bsky.feed.post/3kzzzzzzzzzzz` }, // never existed
  ]
  const page2: unknown[] = [
    { post: posts.carol2.uri, reason: { $type: 'app.bsky.feed.defs#skeletonReasonPin' } },
    { post: 'not a uri' }, // the generator's mistake: dropped, not fatal
    // a repost reason naming a repost of another post: dropped
    { post: posts.carol1.uri, reason: { $type: 'app.bsky.feed.defs#skeletonReasonRepost', repost: repostUri } },
  ]
  gen.feeds.set(feeds.cats.uri, ({ cursor }) => (cursor === 'page-2' ? { feed: page2 } : { feed: page1, cursor: 'page-2' }))
  gen.feeds.set(feeds.dans.uri, () => ({ feed: [{ post: posts.dan.uri }] }))
  broken.feeds.set(feeds.broken.uri, () => ({ feed: [] }))
  offline.feeds.set(feeds.offline.uri, () => ({ feed: [] }))
  await offline.close()
})

afterAll(async () => {
  await gen?.close()
  await broken?.close()
  await net?.close()
})

test('getFeedGenerator: the view with like count and the viewer like; online and valid from the DID document', async () => {
  const res = await appviewGet(net, bob, 'app.bsky.feed.getFeedGenerator', { feed: feeds.cats.uri })
  expect(res.status).toBe(200)
  expect(res.body).toMatchObject({ isOnline: true, isValid: true })
  expect(res.body.view).toMatchObject({
    uri: feeds.cats.uri,
    cid: feeds.cats.cid,
    did: gen.did,
    displayName: 'Cats',
    description: 'Cats feed',
    likeCount: 2,
    creator: { did: alice.did, handle: 'alice.test' },
  })
  expect(res.body.view.viewer.like).toMatch(/^at:\/\//)

  const anon = await appviewGet(net, null, 'app.bsky.feed.getFeedGenerator', { feed: feeds.cats.uri })
  expect(anon.body.view.viewer).toBeUndefined()

  const down = await appviewGet(net, bob, 'app.bsky.feed.getFeedGenerator', { feed: feeds.offline.uri })
  expect(down.status).toBe(200)
  expect(down.body).toMatchObject({ isOnline: false, isValid: false })

  const unknown = await appviewGet(net, bob, 'app.bsky.feed.getFeedGenerator', { feed: `at://${alice.did}/app.bsky.feed.generator/nope` })
  expect(unknown.status).toBe(400)
  const bad = await appviewGet(net, bob, 'app.bsky.feed.getFeedGenerator', { feed: 'not-a-uri' })
  expect(bad.status).toBe(400)
  expect(bad.body.error).toBe('InvalidRequest')
})

test('getFeedGenerators keeps the order asked and leaves out unknown feeds and blocked creators; getActorFeeds pages', async () => {
  const uris = [feeds.dogs.uri, `at://${alice.did}/app.bsky.feed.generator/nope`, feeds.cats.uri, feeds.dans.uri, feeds.bobs.uri]
  const res = await appviewGet(net, bob, 'app.bsky.feed.getFeedGenerators', { feeds: uris })
  expect(res.status).toBe(200)
  expect(res.body.feeds.map((f: any) => f.uri)).toEqual([feeds.dogs.uri, feeds.cats.uri, feeds.bobs.uri])
  // the block hides both ways: bob does not see dan's feed, dan does not see bob's
  const asDan = await appviewGet(net, dan, 'app.bsky.feed.getFeedGenerators', { feeds: uris })
  expect(asDan.body.feeds.map((f: any) => f.uri)).toEqual([feeds.dogs.uri, feeds.cats.uri, feeds.dans.uri])
  const anon = await appviewGet(net, null, 'app.bsky.feed.getFeedGenerators', { feeds: uris })
  expect(anon.body.feeds).toHaveLength(4)

  const seen: string[] = []
  let cursor: string | undefined
  for (let i = 0; i < 10; i++) {
    const page = await appviewGet(net, bob, 'app.bsky.feed.getActorFeeds', { actor: 'alice.test', limit: 1, ...(cursor ? { cursor } : {}) })
    expect(page.status).toBe(200)
    seen.push(...page.body.feeds.map((f: any) => f.uri))
    cursor = page.body.cursor
    if (!cursor) break
  }
  expect(seen.sort()).toEqual([feeds.cats.uri, feeds.dogs.uri, feeds.broken.uri, feeds.offline.uri].sort())
  const blocked = await appviewGet(net, bob, 'app.bsky.feed.getActorFeeds', { actor: dan.did })
  expect(blocked.body.feeds).toEqual([])
  const bad = await appviewGet(net, bob, 'app.bsky.feed.getActorFeeds', { actor: 'alice.test', cursor: 'junk' })
  expect(bad.status).toBe(400)
})

test('getFeed hydrates the generator skeleton, with the viewer token minted for the generator, and passes its cursor through', async () => {
  gen.received.length = 0
  const first = await getFeed(bob, feeds.cats.uri, { limit: 10 })
  expect(first.status).toBe(200)
  // dan (blocked), erin (muted) and the missing post are gone
  expect(first.body.feed.map((f: any) => f.post.uri)).toEqual([posts.carol1.uri, posts.alice.uri])
  expect(first.body.feed[0]).toMatchObject({ feedContext: 'ctx-1', post: { author: { handle: 'carol.test' }, record: { text: 'carol: cats are great' } } })
  expect(first.body.feed[1].reason).toMatchObject({ $type: 'app.bsky.feed.defs#reasonRepost', by: { did: carol.did }, uri: repostUri })
  expect(first.body.cursor).toBe('page-2')

  // the generator got bob's token: iss = bob, aud = the generator, lxm = getFeedSkeleton
  expect(gen.received).toHaveLength(1)
  expect(gen.received[0]!.claims).toEqual({ iss: bob.did, aud: gen.did, lxm: SKELETON })
  expect(gen.received[0]!.params).toMatchObject({ feed: feeds.cats.uri, limit: '10' })

  const second = await getFeed(bob, feeds.cats.uri, { limit: 10, cursor: 'page-2' })
  expect(second.status).toBe(200)
  expect(gen.received[1]!.params.cursor).toBe('page-2')
  expect(second.body.feed.map((f: any) => f.post.uri)).toEqual([posts.carol2.uri])
  expect(second.body.feed[0].reason).toEqual({ $type: 'app.bsky.feed.defs#reasonPin' })
  expect(second.body.cursor).toBeUndefined()
})

test('getFeed anonymously, and with a token for the app view (not handed on to the generator)', async () => {
  gen.received.length = 0
  const anon = await getFeed(null, feeds.cats.uri)
  expect(anon.status).toBe(200)
  // no viewer: nothing is blocked or muted
  expect(anon.body.feed.map((f: any) => f.post.uri)).toEqual([posts.carol1.uri, posts.alice.uri, posts.dan.uri, posts.erin.uri])
  expect(anon.body.feed[0].post.viewer).toBeUndefined()

  const ours = await fetch(`${net.appview.url}/xrpc/app.bsky.feed.getFeed?feed=${encodeURIComponent(feeds.cats.uri)}`, {
    headers: await serviceAuth(net, bob, 'app.bsky.feed.getFeed'),
  })
  expect(ours.status).toBe(200)
  const body: any = await ours.json()
  expect(body.feed.map((f: any) => f.post.uri)).toEqual([posts.carol1.uri, posts.alice.uri])
  expect(gen.received.map((r) => r.claims)).toEqual([null, null])
})

test('getFeed errors: unknown feeds are 400 UnknownFeed; failing, hanging or junk generators are 502 UpstreamFailure', async () => {
  const unknown = await getFeed(bob, `at://${alice.did}/app.bsky.feed.generator/nope`)
  expect(unknown).toMatchObject({ status: 400, body: { error: 'UnknownFeed' } })
  // the generator itself says it does not serve this feed
  const dogs = await getFeed(bob, feeds.dogs.uri)
  expect(dogs).toMatchObject({ status: 400, body: { error: 'UnknownFeed' } })
  // a feed whose creator bob blocks is not served to him
  const dans = await getFeed(bob, feeds.dans.uri)
  expect(dans).toMatchObject({ status: 400, body: { error: 'UnknownFeed' } })

  const down = await getFeed(bob, feeds.offline.uri, {}, offline.did)
  expect(down.status).toBe(502)
  expect(down.body.error).toBe('UpstreamFailure')
  expect(down.body.message).toMatch(/feed unavailable/)

  const failures: [FeedGenMode, RegExp][] = [['error', /status 500/], ['garbage', /not JSON/], ['huge', /larger than/]]
  for (const [mode, message] of failures) {
    broken.mode = mode
    const res = await getFeed(bob, feeds.broken.uri, {}, broken.did)
    expect({ mode, status: res.status, error: res.body.error }).toEqual({ mode, status: 502, error: 'UpstreamFailure' })
    expect(res.body.message).toMatch(message)
  }
  broken.mode = 'hang'
  const started = Date.now()
  const hung = await getFeed(bob, feeds.broken.uri, {}, broken.did)
  expect(hung.status).toBe(502)
  expect(hung.body).toMatchObject({ error: 'UpstreamFailure', message: 'feed generator timed out' })
  expect(Date.now() - started).toBeLessThan(FEEDGEN_TIMEOUT_MS + 3000)
  broken.mode = 'ok'
  expect((await getFeed(bob, feeds.broken.uri, {}, broken.did)).status).toBe(200)
})

test('getFeed bad params are 400s with the lexicon error names', async () => {
  const noFeed = await appviewGet(net, null, 'app.bsky.feed.getFeed')
  expect(noFeed).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } })
  const badUri = await getFeed(null, 'https://example.com/feed')
  expect(badUri).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } })
  const badLimit = await getFeed(null, feeds.cats.uri, { limit: 0 })
  expect(badLimit).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } })
  const tooMany = await getFeed(null, feeds.cats.uri, { limit: 101 })
  expect(tooMany.status).toBe(400)
  // a token for some other method is refused
  const wrong = await fetch(`${net.appview.url}/xrpc/app.bsky.feed.getFeed?feed=${encodeURIComponent(feeds.cats.uri)}`, {
    headers: await serviceAuth(net, bob, 'app.bsky.feed.getTimeline'),
  })
  expect(wrong.status).toBe(401)
})
