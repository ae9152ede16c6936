/**
 * The app view's indexer on the whole network: hostile records are skipped
 * with a counter and never stall indexing; a restart mid-stream loses
 * nothing and counts nothing twice; deletes, takedowns, deactivation,
 * account deletion and handle changes reach every view; an account first
 * seen mid-history is backfilled from its PDS.
 */
import path from 'node:path'
import { AppView } from '@atsuite/appview'
import { TestNetwork, testAppViewConfig, freePort, waitUntil, type TestUser } from '@atsuite/dev-env'
import { appviewGet } from './_appview.ts'

let net: TestNetwork
let alice: TestUser
let bob: TestUser
let carol: TestUser

const counters = () => net.appview.ctx.counters.toJSON()

beforeAll(async () => {
  // the app view's record limit set below the PDS's (1,000,000 bytes of JSON), so an oversized record reaches it
  net = await TestNetwork.create({ appview: { env: { APPVIEW_MAX_RECORD_BYTES: '100000' } } })
  alice = await net.createUser('alice')
  bob = await net.createUser('bob')
  carol = await net.createUser('carol')
})

afterAll(async () => {
  await net?.close()
})

const createRaw = (user: TestUser, collection: string, record: Record<string, unknown>, rkey?: string) =>
  user.agent.com.atproto.repo.createRecord({ repo: user.did, collection, record, rkey, validate: false })

test('hostile records are skipped with a counter and indexing goes on', async () => {
  const before = counters().skipped
  // a post whose text is a number: fails its lexicon
  await createRaw(bob, 'app.bsky.feed.post', { $type: 'app.bsky.feed.post', text: 42, createdAt: new Date().toISOString() })
  // a like of something that is not an AT-URI
  await createRaw(bob, 'app.bsky.feed.like', {
    $type: 'app.bsky.feed.like',
    subject: { uri: 'not a uri', cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' },
    createdAt: new Date().toISOString(),
  })
  // a post replying to itself (its own URI, chosen rkey)
  const selfUri = `at://${bob.did}/app.bsky.feed.post/3kselfreplyaaa`
  const strong = { uri: selfUri, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }
  await createRaw(bob, 'app.bsky.feed.post', { $type: 'app.bsky.feed.post', text: 'me', reply: { root: strong, parent: strong }, createdAt: new Date().toISOString() }, '3kselfreplyaaa')
  // a profile that is not at rkey `self`
  await createRaw(bob, 'app.bsky.actor.profile', { $type: 'app.bsky.actor.profile', displayName: 'elsewhere' }, 'other')
  // a record over the app view's limit (500 KB; the PDS takes up to 1 MB)
  await createRaw(bob, 'app.bsky.actor.profile', { $type: 'app.bsky.actor.profile', description: 'x'.repeat(500_000) }, 'self')
  // an honest post after all of them
  const honest = await bob.agent.post({ text: 'still here' })
  await net.processAll()

  const after = counters().skipped
  expect(after.invalid_record - before.invalid_record).toBe(2)
  expect(after.self_reference - before.self_reference).toBe(1)
  expect(after.too_big - before.too_big).toBe(1)
  expect(after.bad_rkey - before.bad_rkey).toBe(1)
  const posts = await appviewGet(net, null, 'app.bsky.feed.getPosts', { uris: [honest.uri, selfUri] })
  expect(posts.body.posts.map((p: { uri: string }) => p.uri)).toEqual([honest.uri])
  const profile = await appviewGet(net, null, 'app.bsky.actor.getProfile', { actor: bob.did })
  expect(profile.body.postsCount).toBe(1)
})

test('a restart mid-stream loses nothing and counts nothing twice', async () => {
  const root = await alice.agent.post({ text: 'count me' })
  const likes: string[] = []
  for (const u of [bob, carol]) likes.push((await u.agent.like(root.uri, root.cid)).uri)
  // stop the app view while writes keep coming
  await net.restart('appview', async () => {
    for (let i = 0; i < 5; i++) await alice.agent.post({ text: `while down ${i}` })
    await bob.agent.repost(root.uri, root.cid)
  })
  await carol.agent.repost(root.uri, root.cid)
  await net.processAll()
  // restart once more with nothing new: replays nothing twice
  await net.restart('appview')
  await net.processAll()

  const thread = await appviewGet(net, null, 'app.bsky.feed.getPostThread', { uri: root.uri })
  expect(thread.body.thread.post).toMatchObject({ likeCount: 2, repostCount: 2, replyCount: 0 })
  const profile = await appviewGet(net, null, 'app.bsky.actor.getProfile', { actor: alice.did })
  expect(profile.body.postsCount).toBe(6)
})

test('deleting a post, a like and a follow takes them out of every view and every count', async () => {
  const p = await alice.agent.post({ text: 'short-lived' })
  const like = await carol.agent.like(p.uri, p.cid)
  const follow = await carol.agent.follow(alice.did)
  await net.processAll()
  const before = await appviewGet(net, null, 'app.bsky.actor.getProfile', { actor: alice.did })
  expect((await appviewGet(net, null, 'app.bsky.feed.getPosts', { uris: [p.uri] })).body.posts[0].likeCount).toBe(1)

  await carol.agent.deleteLike(like.uri)
  await carol.agent.deleteFollow(follow.uri)
  await net.processAll()
  expect((await appviewGet(net, null, 'app.bsky.feed.getPosts', { uris: [p.uri] })).body.posts[0].likeCount).toBe(0)
  const mid = await appviewGet(net, null, 'app.bsky.actor.getProfile', { actor: alice.did })
  expect(mid.body.followersCount).toBe(before.body.followersCount - 1)

  await alice.agent.deletePost(p.uri)
  await net.processAll()
  expect((await appviewGet(net, null, 'app.bsky.feed.getPosts', { uris: [p.uri] })).body.posts).toEqual([])
  const feed = await appviewGet(net, null, 'app.bsky.feed.getAuthorFeed', { actor: alice.did })
  expect(feed.body.feed.map((f: { post: { uri: string } }) => f.post.uri)).not.toContain(p.uri)
  const after = await appviewGet(net, null, 'app.bsky.actor.getProfile', { actor: alice.did })
  expect(after.body.postsCount).toBe(before.body.postsCount - 1)
})

test('a takedown hides an account everywhere until it is reversed; deactivation too', async () => {
  const p = await carol.agent.post({ text: 'carol speaks' })
  await net.processAll()
  const takedown = (applied: boolean) =>
    net.agent().com.atproto.admin.updateSubjectStatus(
      { subject: { $type: 'com.atproto.admin.defs#repoRef', did: carol.did }, takedown: { applied, ref: applied ? 'TD-1' : undefined } },
      { headers: net.adminAuthHeaders(), encoding: 'application/json' },
    )
  await takedown(true)
  await net.processAll()
  const hidden = await appviewGet(net, null, 'app.bsky.actor.getProfile', { actor: carol.did })
  expect(hidden.status).toBe(400)
  expect(hidden.body.error).toBe('AccountTakedown')
  expect((await appviewGet(net, null, 'app.bsky.feed.getPosts', { uris: [p.uri] })).body.posts).toEqual([])

  await takedown(false)
  await net.processAll()
  expect((await appviewGet(net, null, 'app.bsky.feed.getPosts', { uris: [p.uri] })).body.posts).toHaveLength(1)

  await carol.agent.com.atproto.server.deactivateAccount({})
  await net.processAll()
  const deactivated = await appviewGet(net, null, 'app.bsky.actor.getProfile', { actor: carol.did })
  expect(deactivated.body.error).toBe('AccountDeactivated')
  await carol.agent.com.atproto.server.activateAccount()
  await net.processAll()
  expect((await appviewGet(net, null, 'app.bsky.actor.getProfile', { actor: carol.did })).status).toBe(200)
})

test('a handle change reaches profiles through #identity', async () => {
  await bob.agent.updateHandle({ handle: 'robert.test' })
  await net.processAll()
  const profile = await appviewGet(net, null, 'app.bsky.actor.getProfile', { actor: bob.did })
  expect(profile.body.handle).toBe('robert.test')
  const byHandle = await appviewGet(net, null, 'app.bsky.actor.getProfile', { actor: 'robert.test' })
  expect(byHandle.body.did).toBe(bob.did)
})

test('an account first seen mid-history is backfilled from its PDS', async () => {
  const dave = await net.createUser('dave')
  await dave.agent.upsertProfile(() => ({ displayName: 'Dave' }))
  const early = await dave.agent.post({ text: 'before the new app view existed' })
  await net.processAll()

  // a second app view joining the network now, reading the relay live: it never saw dave's history
  const port = await freePort()
  const cfg = testAppViewConfig(net.plc.url, net.relay.url.replace(/^http/, 'ws'), path.join(net.dir, 'appview-late'), port, {
    APPVIEW_STREAM_START: 'live',
  })
  const late = await AppView.create(cfg, { validateResponses: true })
  await late.start()
  try {
    await waitUntil(() => late.ctx.indexer.status.connected, { timeoutMs: 20_000, describe: () => 'late app view not connected' })
    const later = await dave.agent.post({ text: 'after' })
    const head = await net.processAll()
    await waitUntil(() => late.ctx.indexer.status.cursor >= head && late.ctx.indexer.status.idle, {
      timeoutMs: 10_000,
      wakeOn: [(fn) => (late.ctx.indexer.on('progress', fn), () => void late.ctx.indexer.off('progress', fn))],
      pollMs: 50,
      describe: () => `late app view at ${late.ctx.indexer.status.cursor}, head ${head}`,
    })
    expect(late.ctx.counters.toJSON().activity.backfills).toBe(1)
    const res = await fetch(`${late.url}/xrpc/app.bsky.feed.getAuthorFeed?actor=${dave.did}`)
    const body = (await res.json()) as { feed: { post: { uri: string } }[] }
    expect(body.feed.map((f: { post: { uri: string } }) => f.post.uri)).toEqual([later.uri, early.uri])
    const prof = await (await fetch(`${late.url}/xrpc/app.bsky.actor.getProfile?actor=${dave.did}`)).json()
    expect(prof).toMatchObject({ displayName: 'Dave', handle: 'dave.test', postsCount: 2 })
  } finally {
    await late.destroy()
  }
})

test('likes, reposts, follows and blocks with just their fields are stored without their JSON and shown exactly as written', async () => {
  const dave = await net.createUser('jsondave')
  const erin = await net.createUser('jsonerin')
  const post = await erin.agent.post({ text: 'notice me' })
  const like = await dave.agent.like(post.uri, post.cid)
  const repost = await dave.agent.repost(post.uri, post.cid)
  const follow = await dave.agent.follow(erin.did)
  const block = await dave.agent.app.bsky.graph.block.create({ repo: dave.did }, { subject: carol.did, createdAt: new Date().toISOString() })
  // a like with more than its fields (a `via` and a field no lexicon names) keeps its JSON as written
  const via = await createRaw(carol, 'app.bsky.feed.like', {
    $type: 'app.bsky.feed.like',
    subject: { uri: post.uri, cid: post.cid },
    via: { uri: repost.uri, cid: repost.cid },
    createdAt: new Date().toISOString(),
    zzz: 'kept',
  })
  await net.processAll()

  const sqlite = net.appview.ctx.db.sqlite
  const stored = (table: string, uri: string) => (sqlite.prepare(`SELECT json FROM "${table}" WHERE uri = ?`).get(uri) as { json: string }).json
  for (const [table, uri] of [['like', like.uri], ['repost', repost.uri], ['follow', follow.uri], ['block', block.uri]] as const) expect(stored(table, uri)).toBe('')
  expect(JSON.parse(stored('like', via.data.uri))).toMatchObject({ zzz: 'kept', via: { uri: repost.uri } })

  // what erin's notifications show is the record the PDS holds, field for field
  const res = await appviewGet(net, erin, 'app.bsky.notification.listNotifications', { limit: 50 })
  expect(res.status).toBe(200)
  const shown = new Map<string, unknown>(res.body.notifications.map((n: { uri: string; record: unknown }) => [n.uri, n.record]))
  for (const uri of [like.uri, repost.uri, follow.uri, via.data.uri]) {
    const [, , repo, collection, rkey] = uri.split('/')
    const original = await erin.agent.com.atproto.repo.getRecord({ repo: repo!, collection: collection!, rkey: rkey! })
    expect(shown.get(uri)).toEqual(original.data.value)
  }
})
