/**
 * The PDS as its users' front for the app view and other services (the
 * reference's pipethrough): AtpAgent logged in on the PDS reads app.bsky
 * through it with the user's viewer state (a service JWT minted by the PDS),
 * anonymous reads go through without auth, `atproto-proxy` picks another
 * service from its DID document, the PDS's own methods are never forwarded,
 * upstream errors come back as the upstream's XRPC errors, and getFeed's
 * token is minted for the feed generator.
 */
import path from 'node:path'
import { AtpAgent } from '@atproto/api'
import { TestNetwork, startTestPds, type TestUser } from '@atsuite/dev-env'
import { envToConfig, type PDS } from '@atsuite/pds'
import { appviewGet } from './_appview.ts'
import { ECHO_BYTES, EchoService } from './_echo.ts'
import { TestFeedGen } from './_feedgen.ts'

let net: TestNetwork
let alice: TestUser
let bob: TestUser
let carol: TestUser
let echo: EchoService
let gen: TestFeedGen
let root: { uri: string; cid: string }
let reply: { uri: string; cid: string }
let feedUri: string

type Res = { status: number; body: any; headers: Headers }

const xrpcUrl = (base: string, nsid: string, params: Record<string, string | number | string[]> = {}) => {
  const qs = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item))
  return `${base}/xrpc/${nsid}${qs.size > 0 ? `?${qs}` : ''}`
}

const parse = async (res: Response): Promise<Res> => {
  const text = await res.text()
  let body: any = text
  try {
    body = text ? JSON.parse(text) : null
  } catch {
    // not JSON: the text
  }
  return { status: res.status, body, headers: res.headers }
}

const auth = (user: TestUser | null): Record<string, string> => (user ? { authorization: `Bearer ${user.agent.session!.accessJwt}` } : {})

/** A GET on the PDS as `user` (their session token) or anonymously. */
const pdsGet = async (user: TestUser | null, nsid: string, params: Record<string, string | number | string[]> = {}, headers: Record<string, string> = {}) =>
  parse(await fetch(xrpcUrl(net.pds.url, nsid, params), { headers: { ...auth(user), ...headers } }))

const pdsPost = async (user: TestUser | null, nsid: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  parse(await fetch(xrpcUrl(net.pds.url, nsid), { method: 'POST', headers: { ...auth(user), ...headers }, body }))

beforeAll(async () => {
  net = await TestNetwork.create({ appview: true })
  alice = await net.createUser('alice')
  bob = await net.createUser('bob')
  carol = await net.createUser('carol')
  echo = await EchoService.start(net.plc.url)
  gen = await TestFeedGen.start(net.plc.url)

  await alice.agent.upsertProfile(() => ({ displayName: 'Alice', description: 'first user' }))
  root = await alice.agent.post({ text: 'hello from alice' })
  await bob.agent.follow(alice.did)
  await carol.agent.follow(alice.did)
  await bob.agent.like(root.uri, root.cid)
  const ref = { uri: root.uri, cid: root.cid }
  reply = await bob.agent.post({ text: 'hi alice', reply: { root: ref, parent: ref } })
  await carol.agent.repost(root.uri, root.cid)
  const feed = await alice.agent.com.atproto.repo.createRecord({
    repo: alice.did,
    collection: 'app.bsky.feed.generator',
    rkey: 'cats',
    record: { $type: 'app.bsky.feed.generator', did: gen.did, displayName: 'Cats', createdAt: new Date().toISOString() },
  })
  feedUri = feed.data.uri
  gen.feeds.set(feedUri, () => ({ feed: [{ post: root.uri }] }))
  await net.processAll()
})

afterAll(async () => {
  await echo?.close()
  await gen?.close()
  await net?.close()
})

test('AtpAgent logged in on the PDS reads the app view through it, with its viewer state', async () => {
  const timeline = await bob.agent.getTimeline()
  expect(timeline.data.feed.map((f) => f.post.uri).sort()).toEqual([root.uri, reply.uri].sort())
  const alicePost = timeline.data.feed.find((f) => f.post.uri === root.uri)!
  expect(alicePost.post.viewer?.like).toMatch(/^at:\/\//)
  expect(timeline.headers['atproto-repo-rev']).toBeTruthy()

  const profile = await bob.agent.getProfile({ actor: 'alice.test' })
  expect(profile.data).toMatchObject({ did: alice.did, displayName: 'Alice', followersCount: 2, postsCount: 1 })
  expect(profile.data.viewer?.following).toMatch(/^at:\/\//)

  const thread = await bob.agent.getPostThread({ uri: root.uri })
  expect(thread.data.thread).toMatchObject({ post: { uri: root.uri, likeCount: 1, replyCount: 1, repostCount: 1 } })
  const replies = (thread.data.thread as any).replies
  expect(replies.map((r: any) => r.post.uri)).toEqual([reply.uri])

  const carolFeed = await bob.agent.getAuthorFeed({ actor: carol.did })
  expect(carolFeed.data.feed[0]?.reason).toMatchObject({ $type: 'app.bsky.feed.defs#reasonRepost' })

  // a procedure with a JSON body, forwarded as sent: the mute shows in bob's view of carol
  await bob.agent.mute(carol.did)
  expect((await bob.agent.getProfile({ actor: carol.did })).data.viewer?.muted).toBe(true)
  await bob.agent.unmute(carol.did)
  expect((await bob.agent.getProfile({ actor: carol.did })).data.viewer?.muted).toBe(false)

  const notifs = await alice.agent.listNotifications()
  expect(notifs.data.notifications.map((n) => n.reason).sort()).toEqual(['follow', 'follow', 'like', 'reply', 'repost'])
  await alice.agent.updateSeenNotifications()
  expect((await alice.agent.countUnreadNotifications()).data.count).toBe(0)
})

test('every read the app view serves answers the same through the PDS as directly with a service token', async () => {
  const reads: [string, Record<string, string | number | string[]>][] = [
    ['app.bsky.actor.getProfile', { actor: alice.did }],
    ['app.bsky.actor.getProfiles', { actors: [alice.did, 'carol.test'] }],
    ['app.bsky.actor.getSuggestions', {}],
    ['app.bsky.actor.searchActors', { q: 'alice' }],
    ['app.bsky.actor.searchActorsTypeahead', { q: 'ali' }],
    ['app.bsky.feed.getTimeline', {}],
    ['app.bsky.feed.getAuthorFeed', { actor: alice.did }],
    ['app.bsky.feed.getPostThread', { uri: root.uri }],
    ['app.bsky.feed.getPosts', { uris: [root.uri, reply.uri] }],
    ['app.bsky.feed.getLikes', { uri: root.uri }],
    ['app.bsky.feed.getRepostedBy', { uri: root.uri }],
    ['app.bsky.feed.getQuotes', { uri: root.uri }],
    ['app.bsky.feed.getActorLikes', { actor: bob.did }],
    ['app.bsky.feed.getActorFeeds', { actor: alice.did }],
    ['app.bsky.feed.getFeedGenerators', { feeds: [feedUri] }],
    ['app.bsky.feed.searchPosts', { q: 'hello' }],
    ['app.bsky.graph.getFollowers', { actor: alice.did }],
    ['app.bsky.graph.getFollows', { actor: bob.did }],
    ['app.bsky.graph.getRelationships', { actor: bob.did, others: [alice.did, carol.did] }],
    ['app.bsky.graph.getMutes', {}],
    ['app.bsky.graph.getBlocks', {}],
    ['app.bsky.graph.getLists', { actor: alice.did }],
    ['app.bsky.notification.listNotifications', {}],
    ['app.bsky.notification.getUnreadCount', {}],
  ]
  for (const [nsid, params] of reads) {
    const direct = await appviewGet(net, bob, nsid, params)
    const through = await pdsGet(bob, nsid, params)
    expect({ nsid, status: through.status }).toEqual({ nsid, status: direct.status })
    expect({ nsid, body: through.body }).toEqual({ nsid, body: direct.body })
    expect({ nsid, rev: through.headers.get('atproto-repo-rev') }).toEqual({ nsid, rev: direct.headers.get('atproto-repo-rev') })
  }
})

test('anonymous reads are forwarded without auth; a bad token is a 401, never dropped', async () => {
  const anon = new AtpAgent({ service: net.pds.url })
  const profile = await anon.getProfile({ actor: 'alice.test' })
  expect(profile.data.viewer?.following).toBeUndefined()
  const thread = await anon.getPostThread({ uri: root.uri })
  expect((thread.data.thread as any).post.viewer).toBeUndefined()
  const posts = await pdsGet(null, 'app.bsky.feed.getPosts', { uris: [root.uri] })
  expect(posts.status).toBe(200)
  expect(posts.body.posts[0].viewer).toBeUndefined()
  // the app view's own answer to a timeline without a viewer
  const timeline = await pdsGet(null, 'app.bsky.feed.getTimeline')
  expect(timeline.status).toBe(401)
  expect(timeline.body.error).toBe('AuthenticationRequired')

  const bad = await pdsGet(null, 'app.bsky.feed.getPosts', { uris: [root.uri] }, { authorization: 'Bearer not-a-token' })
  expect(bad.status).toBe(401)
  const badRaw = await pdsGet(null, 'app.bsky.graph.getFollows', { actor: bob.did }, { authorization: 'Bearer not-a-token' })
  expect(badRaw.status).toBe(401)
})

test('atproto-proxy: the app view by its DID, another service from its DID document; a bad header is a 400', async () => {
  const avDid = net.appview.ctx.cfg.did
  const direct = await appviewGet(net, bob, 'app.bsky.feed.getPosts', { uris: [root.uri] })
  for (const service of ['bsky_appview', 'bsky_notif']) {
    const res = await pdsGet(bob, 'app.bsky.feed.getPosts', { uris: [root.uri] }, { 'atproto-proxy': `${avDid}#${service}` })
    expect(res.status).toBe(200)
    expect(res.body).toEqual(direct.body)
  }
  // registered read-after-write routes follow the header too
  const viaEcho = await pdsGet(bob, 'app.bsky.feed.getTimeline', {}, { 'atproto-proxy': `${echo.did}#echo` })
  expect(viaEcho.body).toEqual({ ok: true, nsid: 'app.bsky.feed.getTimeline' })

  const cases: [string, RegExp][] = [
    ['nonsense', /service id/],
    [`${avDid}#`, /service id/],
    ['#bsky_appview', /no DID/],
    [`${avDid}#a#b`, /<did>#<service id>/],
    ['not-a-did#bsky_appview', /does not name a DID/],
    [`${avDid}#no_such_service`, /names no service #no_such_service/],
    ['did:web:localhost%3A1#bsky_appview', /could not resolve/],
    ['did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#bsky_appview', /could not resolve/],
  ]
  for (const [header, message] of cases) {
    const res = await pdsGet(bob, 'app.bsky.feed.getPosts', { uris: [root.uri] }, { 'atproto-proxy': header })
    expect({ header, status: res.status, error: res.body.error }).toEqual({ header, status: 400, error: 'InvalidRequest' })
    expect(res.body.message).toMatch(message)
  }
})

test('a forwarded call: method, query, body bytes and the headers that matter go up; status, body and its headers come back', async () => {
  echo.received.length = 0
  const proxy = { 'atproto-proxy': `${echo.did}#echo` }
  const get = await pdsGet(bob, 'com.example.echo', { a: '1', b: ['x', 'y'] }, { ...proxy, 'accept-language': 'fr', 'atproto-accept-labelers': 'did:example:l1', cookie: 'secret=1' })
  expect(get.status).toBe(200)
  expect(get.body).toMatchObject({ method: 'GET', acceptLanguage: 'fr', labelers: 'did:example:l1' })
  expect(get.body.query).toEqual({ a: '1', b: 'y' })
  expect(get.headers.get('atproto-repo-rev')).toBe('echo-rev')
  expect(get.headers.get('atproto-content-labelers')).toBe('did:example:labeler')
  expect(get.headers.get('content-type')).toMatch(/application\/json/)
  // the token: bob, for this service's DID (no fragment), for this method, short-lived
  const claims = get.body.claims
  expect(claims).toMatchObject({ iss: bob.did, aud: echo.did, lxm: 'com.example.echo' })
  expect(claims.exp - Date.now() / 1000).toBeLessThanOrEqual(61)
  // the client's own credentials and cookies stay with the PDS
  const up = echo.received.at(-1)!
  expect(up.headers.authorization).not.toContain(bob.agent.session!.accessJwt)
  expect(up.headers.cookie).toBeUndefined()

  const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 256))
  const post = await pdsPost(bob, 'com.example.echo', bytes, { ...proxy, 'content-type': 'application/octet-stream' })
  expect(post.status).toBe(200)
  expect(post.body.method).toBe('POST')
  expect(post.body.contentType).toBe('application/octet-stream')
  expect(Buffer.from(post.body.body, 'base64').equals(bytes)).toBe(true)
  // a JSON body is not read by the PDS on the way (a forwarded method is not one of its own)
  const json = '{"b": 2,   "a": [1, 2]}'
  const jsonPost = await pdsPost(bob, 'com.example.echo', json, { ...proxy, 'content-type': 'application/json' })
  expect(Buffer.from(jsonPost.body.body, 'base64').toString()).toBe(json)

  const bin = await fetch(xrpcUrl(net.pds.url, 'com.example.bytes'), { headers: { ...auth(bob), ...proxy } })
  expect(bin.headers.get('content-type')).toBe('application/octet-stream')
  expect(Buffer.from(await bin.arrayBuffer()).equals(ECHO_BYTES)).toBe(true)

  const anon = await pdsGet(null, 'com.example.echo', {}, proxy)
  expect(anon.body.claims).toBeNull()
  expect(echo.received.at(-1)!.headers.authorization).toBeUndefined()
})

test('upstream errors come back as the upstream XRPC error; an unreachable upstream is a 502', async () => {
  const proxy = { 'atproto-proxy': `${echo.did}#echo` }
  for (const status of [400, 401, 404, 429, 503]) {
    const res = await pdsGet(bob, 'com.example.fail', { status }, proxy)
    expect({ status: res.status, body: res.body }).toEqual({ status, body: { error: 'Nope', message: 'failed on purpose' } })
    expect(res.headers.get('retry-after')).toBe('7')
  }
  // a 500 upstream is not the PDS's failure: 502, with the upstream's error
  const fail = await pdsGet(bob, 'com.example.fail', { status: 500 }, proxy)
  expect(fail.status).toBe(502)
  expect(fail.body).toEqual({ error: 'Nope', message: 'failed on purpose' })

  // a service that went away after its DID document was read (and cached): 502, and the document is read again next time
  const gone = await EchoService.start(net.plc.url)
  expect((await pdsGet(bob, 'com.example.echo', {}, { 'atproto-proxy': `${gone.did}#echo` })).status).toBe(200)
  await gone.close()
  const down = await pdsGet(bob, 'com.example.echo', {}, { 'atproto-proxy': `${gone.did}#echo` })
  expect(down.status).toBe(502)
  expect(down.body.error).toBe('UpstreamFailure')
  // its DID document is served by the service itself: gone with it
  const unresolvable = await pdsGet(bob, 'com.example.echo', {}, { 'atproto-proxy': `${gone.did}#echo` })
  expect(unresolvable.status).toBe(400)
  expect(unresolvable.body.message).toMatch(/could not resolve/)

  await net.service('appview').destroy()
  try {
    const res = await pdsGet(bob, 'app.bsky.feed.getPosts', { uris: [root.uri] })
    expect(res.status).toBe(502)
    expect(res.body.error).toBe('UpstreamFailure')
    const tl = await pdsGet(bob, 'app.bsky.feed.getTimeline')
    expect(tl.status).toBe(502)
  } finally {
    await net.service('appview').start()
  }
})

test('the PDS never forwards its own methods, and keeps DMs from plain app passwords', async () => {
  echo.received.length = 0
  const proxy = { 'atproto-proxy': `${echo.did}#echo` }
  for (const nsid of ['com.atproto.server.reserveSigningKey', 'com.atproto.sync.getHead', 'com.atproto.admin.whatever', 'com.atproto.repo.whatever']) {
    const plain = await pdsGet(bob, nsid)
    expect({ nsid, status: plain.status, error: plain.body.error }).toEqual({ nsid, status: 501, error: 'MethodNotImplemented' })
    const proxied = await pdsGet(bob, nsid, {}, proxy)
    expect({ nsid, status: proxied.status }).toEqual({ nsid, status: 400 })
  }
  // served by the PDS itself whatever the header says
  const prefs = await pdsGet(bob, 'app.bsky.actor.getPreferences', {}, proxy)
  expect(prefs.status).toBe(200)
  expect(prefs.body).toEqual({ preferences: [] })
  const session = await pdsGet(bob, 'com.atproto.server.getSession', {}, proxy)
  expect(session.body.did).toBe(bob.did)
  expect(echo.received).toEqual([])

  // chat.bsky.* goes only where a header says, and not for a plain app password
  expect((await pdsGet(bob, 'chat.bsky.convo.listConvos')).status).toBe(501)
  expect((await pdsGet(bob, 'chat.bsky.convo.listConvos', {}, proxy)).body).toEqual({ ok: true, nsid: 'chat.bsky.convo.listConvos' })
  const appPass = async (privileged: boolean) => {
    const { data } = await bob.agent.com.atproto.server.createAppPassword({ name: `app-${privileged}`, privileged })
    const agent = new AtpAgent({ service: net.pds.url })
    await agent.login({ identifier: bob.handle, password: data.password })
    return { ...bob, agent }
  }
  const plainApp = await appPass(false)
  const refused = await pdsGet(plainApp, 'chat.bsky.convo.listConvos', {}, proxy)
  expect(refused.status).toBe(400)
  expect(refused.body.error).toBe('InvalidToken')
  expect((await pdsGet(await appPass(true), 'chat.bsky.convo.listConvos', {}, proxy)).status).toBe(200)
  // an app password reads the app view like any session
  const tl = await plainApp.agent.getTimeline()
  expect(tl.data.feed.length).toBeGreaterThan(0)
})

test('getFeed reaches the feed generator with a token minted for it (aud = its DID, lxm = getFeedSkeleton)', async () => {
  gen.received.length = 0
  const res = await bob.agent.app.bsky.feed.getFeed({ feed: feedUri })
  expect(res.data.feed.map((f) => f.post.uri)).toEqual([root.uri])
  expect(res.data.feed[0]!.post.viewer?.like).toMatch(/^at:\/\//)
  expect(gen.received).toHaveLength(1)
  expect(gen.received[0]!.claims).toEqual({ iss: bob.did, aud: gen.did, lxm: 'app.bsky.feed.getFeedSkeleton' })

  // anonymous: no token for anyone
  const anon = await pdsGet(null, 'app.bsky.feed.getFeed', { feed: feedUri })
  expect(anon.status).toBe(200)
  expect(gen.received[1]!.claims).toBeNull()

  const unknown = await pdsGet(bob, 'app.bsky.feed.getFeed', { feed: `at://${alice.did}/app.bsky.feed.generator/nope` })
  expect(unknown.status).toBe(400)
  expect(unknown.body.error).toBe('UnknownFeed')
})

test('without an app view configured (not on localhost, none set), app.bsky is the reference 501', async () => {
  expect(envToConfig({ PDS_HOSTNAME: 'pds.example.com' }).bskyAppView).toBeUndefined()
  expect(envToConfig({ PDS_HOSTNAME: 'localhost' }).bskyAppView).toEqual({ url: 'http://localhost:2584', did: 'did:web:localhost%3A2584' })
  expect(() => envToConfig({ PDS_BSKY_APP_VIEW_URL: 'https://api.example.com' })).toThrow(/both or neither/)
  let pds: PDS | undefined
  try {
    pds = await startTestPds(net.plc.url, path.join(net.dir, 'pds-no-appview'), { PDS_HOSTNAME: 'pds.example.com', PDS_BIND_HOST: '127.0.0.1' })
    expect(pds.registeredMethods()).not.toContain('app.bsky.feed.getTimeline')
    const res = await parse(await fetch(xrpcUrl(pds.url, 'app.bsky.feed.getTimeline')))
    expect(res.status).toBe(501)
    expect(res.body.error).toBe('MethodNotImplemented')
    // a header still names a service
    const proxied = await parse(await fetch(xrpcUrl(pds.url, 'com.example.echo'), { headers: { 'atproto-proxy': `${echo.did}#echo` } }))
    expect(proxied.status).toBe(200)
  } finally {
    await pds?.destroy()
  }
})
