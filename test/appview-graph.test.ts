/**
 * The app view's graph and interaction reads on the whole network (PDS →
 * relay → app view): follows, followers, blocks, mutes, relationships, lists
 * and list feeds, likes, reposts, quotes and the viewer's likes — contents,
 * order, counts, viewer state, paging, blocks both ways, deletes, duplicates
 * and hidden accounts.
 */
import { isValidDid, type AtUriString, type DidString } from '@atproto/syntax'
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { edgePageQuery } from '../packages/appview/src/data/graph.ts'
import { bySubjectQuery } from '../packages/appview/src/data/interactions.ts'
import { viewerPairsQuery } from '../packages/appview/src/hydration/util.ts'
import { appviewGet, appviewPost } from './_appview.ts'

let net: TestNetwork
let n = 0

beforeAll(async () => {
  net = await TestNetwork.create({ appview: true })
})

afterAll(async () => {
  await net?.close()
})

/** Fresh accounts per test, so tests do not see each other's graph. */
const users = async (...names: string[]): Promise<TestUser[]> => {
  n++
  const out: TestUser[] = []
  for (const name of names) out.push(await net.createUser(`${name}${n}`))
  return out
}

type Ref = { uri: string; cid: string }

const create = async (user: TestUser, collection: string, record: Record<string, unknown>): Promise<Ref> => {
  const res = await user.agent.com.atproto.repo.createRecord({
    repo: user.did,
    collection,
    record: { $type: collection, createdAt: new Date().toISOString(), ...record },
  })
  return { uri: res.data.uri, cid: res.data.cid }
}

const remove = async (user: TestUser, uri: string): Promise<void> => {
  const [, , , collection, rkey] = uri.split('/')
  await user.agent.com.atproto.repo.deleteRecord({ repo: user.did, collection: collection!, rkey: rkey! })
}

const follow = (user: TestUser, subject: TestUser) => create(user, 'app.bsky.graph.follow', { subject: subject.did })
const block = (user: TestUser, subject: TestUser) => create(user, 'app.bsky.graph.block', { subject: subject.did })
const like = (user: TestUser, subject: Ref) => create(user, 'app.bsky.feed.like', { subject })
const repost = (user: TestUser, subject: Ref) => create(user, 'app.bsky.feed.repost', { subject })
const post = (user: TestUser, text: string, extra: Record<string, unknown> = {}) => create(user, 'app.bsky.feed.post', { text, ...extra })

const get = async (viewer: TestUser | null, nsid: string, params: Record<string, string | number | string[]>) => {
  const res = await appviewGet(net, viewer, nsid, params)
  if (res.status !== 200) throw new Error(`${nsid}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** Every page of a listing with a small limit: the items in order, and how many pages it took. */
const pages = async (viewer: TestUser | null, nsid: string, params: Record<string, string | string[]>, key: string, limit: number) => {
  const items: any[] = []
  let cursor: string | undefined
  let count = 0
  do {
    const body = await get(viewer, nsid, { ...params, limit, ...(cursor ? { cursor } : {}) })
    expect(body[key].length).toBeLessThanOrEqual(limit)
    items.push(...body[key])
    cursor = body.cursor
    count++
    expect(count).toBeLessThan(50)
  } while (cursor)
  return { items, count }
}

const didOf = (user: TestUser): DidString => {
  if (!isValidDid(user.did)) throw new Error(`not a DID: ${user.did}`)
  return user.did
}

const dids = (profiles: { did: string }[]) => profiles.map((p) => p.did)

test('getFollowers and getFollows: newest first, subject and viewer state, every item once when paging, stable under inserts', async () => {
  const [star, f1, f2, f3, f4, f5, late] = await users('star', 'fa', 'fb', 'fc', 'fd', 'fe', 'late')
  const followers = [f1!, f2!, f3!, f4!, f5!]
  const follows = new Map<string, Ref>()
  for (const f of followers) follows.set(f.did, await follow(f, star!))
  const back = await follow(star!, f1!)
  await net.processAll()

  const body = await get(f1!, 'app.bsky.graph.getFollowers', { actor: star!.handle })
  expect(dids(body.followers)).toEqual(dids([...followers].reverse()))
  expect(body.cursor).toBeUndefined()
  expect(body.subject).toMatchObject({ did: star!.did, handle: star!.handle })
  // the viewer's relationship to the subject and to each listed account
  expect(body.subject.viewer).toMatchObject({ following: follows.get(f1!.did)!.uri, followedBy: back.uri, muted: false, blockedBy: false })
  const f2View = body.followers.find((p: any) => p.did === f2!.did)
  expect(f2View.viewer).toEqual({ muted: false, blockedBy: false })

  const profile = await get(null, 'app.bsky.actor.getProfile', { actor: star!.did })
  expect(profile).toMatchObject({ followersCount: 5, followsCount: 1 })

  for (const limit of [1, 2, 3, 5]) {
    const all = await pages(null, 'app.bsky.graph.getFollowers', { actor: star!.did }, 'followers', limit)
    expect(dids(all.items)).toEqual(dids([...followers].reverse()))
    expect(all.count).toBe(Math.ceil(5 / limit) + (5 % limit === 0 ? 1 : 0))
  }

  // a follow arriving between two pages neither repeats nor skips anything
  const first = await get(null, 'app.bsky.graph.getFollowers', { actor: star!.did, limit: 2 })
  expect(dids(first.followers)).toEqual([f5!.did, f4!.did])
  await follow(late!, star!)
  await net.processAll()
  const second = await get(null, 'app.bsky.graph.getFollowers', { actor: star!.did, limit: 2, cursor: first.cursor })
  expect(dids(second.followers)).toEqual([f3!.did, f2!.did])
  const third = await get(null, 'app.bsky.graph.getFollowers', { actor: star!.did, limit: 2, cursor: second.cursor })
  expect(dids(third.followers)).toEqual([f1!.did])
  const fresh = await get(null, 'app.bsky.graph.getFollowers', { actor: star!.did, limit: 1 })
  expect(dids(fresh.followers)).toEqual([late!.did])

  const theirs = await get(star!, 'app.bsky.graph.getFollows', { actor: f1!.did })
  expect(dids(theirs.follows)).toEqual([star!.did])
  expect(theirs.subject.viewer).toMatchObject({ following: back.uri, followedBy: follows.get(f1!.did)!.uri })
  const mine = await get(null, 'app.bsky.graph.getFollows', { actor: star!.did })
  expect(dids(mine.follows)).toEqual([f1!.did])
})

test('a deleted follow disappears and counts drop by exactly one; a duplicate follow is listed and counted once', async () => {
  const [star, a, b] = await users('dstar', 'da', 'db')
  const fa = await follow(a!, star!)
  const fb = await follow(b!, star!)
  const dup = await follow(b!, star!)
  await net.processAll()
  expect(dids((await get(null, 'app.bsky.graph.getFollowers', { actor: star!.did })).followers)).toEqual([b!.did, a!.did])
  expect(await get(null, 'app.bsky.actor.getProfile', { actor: star!.did })).toMatchObject({ followersCount: 2 })
  expect(await get(null, 'app.bsky.actor.getProfile', { actor: b!.did })).toMatchObject({ followsCount: 1 })
  // paging over the duplicate still yields each follower once
  expect(dids((await pages(null, 'app.bsky.graph.getFollowers', { actor: star!.did }, 'followers', 1)).items)).toEqual([b!.did, a!.did])

  await remove(a!, fa.uri)
  await net.processAll()
  expect(dids((await get(null, 'app.bsky.graph.getFollowers', { actor: star!.did })).followers)).toEqual([b!.did])
  expect(await get(null, 'app.bsky.actor.getProfile', { actor: star!.did })).toMatchObject({ followersCount: 1 })
  expect(await get(null, 'app.bsky.actor.getProfile', { actor: a!.did })).toMatchObject({ followsCount: 0 })

  // one of b's two follow records goes: b still follows star, the counts stay
  await remove(b!, fb.uri)
  await net.processAll()
  const still = await get(b!, 'app.bsky.graph.getFollowers', { actor: star!.did })
  expect(dids(still.followers)).toEqual([b!.did])
  expect(still.subject.viewer.following).toBe(dup.uri)
  expect(await get(null, 'app.bsky.actor.getProfile', { actor: star!.did })).toMatchObject({ followersCount: 1 })
  await remove(b!, dup.uri)
  await net.processAll()
  expect((await get(null, 'app.bsky.graph.getFollowers', { actor: star!.did })).followers).toEqual([])
  expect(await get(null, 'app.bsky.actor.getProfile', { actor: star!.did })).toMatchObject({ followersCount: 0 })
})

test('bad requests are 400s with the lexicon error names, never 500s', async () => {
  const [me] = await users('err')
  await net.processAll()
  const expect400 = async (nsid: string, params: Record<string, string | number>, error = 'InvalidRequest', viewer: TestUser | null = null) => {
    const res = await appviewGet(net, viewer, nsid, params)
    expect({ nsid, params, status: res.status, error: res.body?.error }).toEqual({ nsid, params, status: 400, error })
  }
  await expect400('app.bsky.graph.getFollowers', { actor: 'nobody.test' })
  await expect400('app.bsky.graph.getFollows', { actor: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' })
  await expect400('app.bsky.graph.getFollowers', { actor: me!.did, cursor: 'nonsense' })
  await expect400('app.bsky.graph.getFollowers', { actor: me!.did, cursor: '1700000000000::not-a-uri' })
  // a cursor time past the datetime range
  await expect400('app.bsky.graph.getFollows', { actor: me!.did, cursor: `99999999999999999::at://${me!.did}/app.bsky.graph.follow/3k` })
  await expect400('app.bsky.graph.getFollowers', { actor: me!.did, limit: 0 })
  await expect400('app.bsky.graph.getFollowers', { actor: me!.did, limit: 101 })
  await expect400('app.bsky.graph.getMutes', { cursor: '12::not-a-did' }, 'InvalidRequest', me!)
  await expect400('app.bsky.graph.getLists', { actor: 'nobody.test' })
  await expect400('app.bsky.graph.getList', { list: `at://${me!.did}/app.bsky.graph.list/nope` })
  await expect400('app.bsky.graph.getRelationships', { actor: 'nobody.test' }, 'ActorNotFound')
  await expect400('app.bsky.feed.getListFeed', { list: `at://${me!.did}/app.bsky.graph.list/nope` }, 'UnknownList')
  await expect400('app.bsky.feed.getLikes', { uri: `at://${me!.did}/app.bsky.feed.post/x`, cursor: '5::x' })
  await expect400('app.bsky.feed.getQuotes', { uri: 'not a uri' })
  for (const nsid of ['app.bsky.graph.getBlocks', 'app.bsky.graph.getMutes']) {
    expect((await appviewGet(net, null, nsid)).status).toBe(401)
  }
  expect((await appviewPost(net, null, 'app.bsky.graph.muteActor', { actor: me!.did })).status).toBe(401)
  const self = await appviewPost(net, me!, 'app.bsky.graph.muteActor', { actor: me!.did })
  expect(self).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } })
  const unknown = await appviewPost(net, me!, 'app.bsky.graph.muteActor', { actor: 'nobody.test' })
  expect(unknown).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } })
  const noActor = await appviewPost(net, me!, 'app.bsky.graph.muteActor', {})
  expect(noActor).toMatchObject({ status: 400, body: { error: 'InvalidRequest' } })
})

test('blocks hide accounts both ways: follower lists, likes, reposts, quotes, relationships, getBlocks', async () => {
  const [star, viewer, blocker, blocked, feuding, plain] = await users('bstar', 'bview', 'bblocker', 'bblocked', 'bfeud', 'bplain')
  const p = await post(star!, 'a post')
  for (const u of [blocker!, blocked!, feuding!, plain!]) {
    await follow(u, star!)
    await like(u, p)
    await repost(u, p)
    await post(u, 'quoting', { embed: { $type: 'app.bsky.embed.record', record: p } })
  }
  await follow(viewer!, star!)
  await block(blocker!, viewer!) // blocks the viewer
  const mine = await block(viewer!, blocked!) // blocked by the viewer
  await block(feuding!, star!) // blocks the post's author / the followed account
  await net.processAll()

  // the viewer sees neither side of their blocks; nobody sees feuding under star's post or followers
  const forViewer = [viewer!.did, plain!.did]
  const forOthers = [plain!.did, blocked!.did, blocker!.did]
  expect(dids((await get(viewer!, 'app.bsky.graph.getFollowers', { actor: star!.did })).followers)).toEqual(forViewer)
  expect(dids((await get(plain!, 'app.bsky.graph.getFollowers', { actor: star!.did })).followers)).toEqual([viewer!.did, ...forOthers])
  expect((await get(viewer!, 'app.bsky.feed.getLikes', { uri: p.uri })).likes.map((l: any) => l.actor.did)).toEqual([plain!.did])
  expect((await get(null, 'app.bsky.feed.getLikes', { uri: p.uri })).likes.map((l: any) => l.actor.did)).toEqual(forOthers)
  expect(dids((await get(viewer!, 'app.bsky.feed.getRepostedBy', { uri: p.uri })).repostedBy)).toEqual([plain!.did])
  expect(dids((await get(null, 'app.bsky.feed.getRepostedBy', { uri: p.uri })).repostedBy)).toEqual(forOthers)
  expect((await get(viewer!, 'app.bsky.feed.getQuotes', { uri: p.uri })).posts.map((q: any) => q.author.did)).toEqual([plain!.did])
  expect((await get(null, 'app.bsky.feed.getQuotes', { uri: p.uri })).posts.map((q: any) => q.author.did)).toEqual(forOthers)
  // the feuding follower still follows; only the lists leave them out
  expect(await get(null, 'app.bsky.actor.getProfile', { actor: star!.did })).toMatchObject({ followersCount: 5 })

  const blocks = await get(viewer!, 'app.bsky.graph.getBlocks', {})
  expect(dids(blocks.blocks)).toEqual([blocked!.did])
  expect(blocks.blocks[0].viewer).toMatchObject({ blocking: mine.uri, blockedBy: false })

  const rel = await get(null, 'app.bsky.graph.getRelationships', {
    actor: viewer!.handle,
    others: [blocked!.did, blocker!.handle, star!.did, 'nobody.test', 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'],
  })
  expect(rel.actor).toBe(viewer!.did)
  expect(rel.relationships).toHaveLength(5)
  expect(rel.relationships[0]).toEqual({ $type: 'app.bsky.graph.defs#relationship', did: blocked!.did, blocking: mine.uri })
  expect(rel.relationships[1]).toMatchObject({ did: blocker!.did, blockedBy: expect.stringContaining(blocker!.did) })
  expect(rel.relationships[2]).toMatchObject({ did: star!.did, following: expect.stringContaining(viewer!.did) })
  expect(rel.relationships[2].followedBy).toBeUndefined()
  expect(rel.relationships[3]).toEqual({ $type: 'app.bsky.graph.defs#notFoundActor', actor: 'nobody.test', notFound: true })
  expect(rel.relationships[4]).toMatchObject({ notFound: true })

  // unblocking brings them back
  await remove(viewer!, mine.uri)
  await net.processAll()
  expect(dids((await get(viewer!, 'app.bsky.graph.getFollowers', { actor: star!.did })).followers)).toEqual([viewer!.did, plain!.did, blocked!.did])
  expect((await get(viewer!, 'app.bsky.graph.getBlocks', {})).blocks).toEqual([])
})

test('mutes are private app view state: getMutes pages them; a muted author leaves timelines and notifications, not their profile', async () => {
  const [me, loud, other, third] = await users('mme', 'mloud', 'mother', 'mthird')
  await follow(me!, loud!)
  await follow(me!, other!)
  const mine = await post(me!, 'my post')
  const loudPost = await post(loud!, 'loud post')
  const otherPost = await post(other!, 'other post')
  await like(loud!, mine)
  await like(other!, mine)
  await net.processAll()

  const timeline = async () => (await get(me!, 'app.bsky.feed.getTimeline', {})).feed.map((f: any) => f.post.uri)
  const notified = async () => (await get(me!, 'app.bsky.notification.listNotifications', {})).notifications.map((x: any) => x.author.did)
  expect(await timeline()).toEqual([otherPost.uri, loudPost.uri, mine.uri])
  expect(await notified()).toEqual([other!.did, loud!.did])

  for (const u of [loud!, other!, third!]) {
    expect((await appviewPost(net, me!, 'app.bsky.graph.muteActor', { actor: u.handle })).status).toBe(200)
  }
  // muting twice changes nothing
  expect((await appviewPost(net, me!, 'app.bsky.graph.muteActor', { actor: loud!.did })).status).toBe(200)
  const muted = await pages(me!, 'app.bsky.graph.getMutes', {}, 'mutes', 1)
  expect(dids(muted.items)).toEqual([third!.did, other!.did, loud!.did])
  expect(muted.items[0].viewer).toMatchObject({ muted: true })
  // private: nobody else sees them, not even through viewer state
  expect((await get(loud!, 'app.bsky.graph.getMutes', {})).mutes).toEqual([])
  expect((await get(loud!, 'app.bsky.actor.getProfile', { actor: me!.did })).viewer.muted).toBe(false)

  expect((await appviewPost(net, me!, 'app.bsky.graph.unmuteActor', { actor: other!.did })).status).toBe(200)
  expect((await appviewPost(net, me!, 'app.bsky.graph.unmuteActor', { actor: third!.did })).status).toBe(200)
  expect(dids((await get(me!, 'app.bsky.graph.getMutes', {})).mutes)).toEqual([loud!.did])

  expect(await timeline()).toEqual([otherPost.uri, mine.uri])
  expect(await notified()).toEqual([other!.did])
  expect((await get(me!, 'app.bsky.notification.getUnreadCount', {})).count).toBe(1)
  const profile = await get(me!, 'app.bsky.actor.getProfile', { actor: loud!.did })
  expect(profile.viewer).toMatchObject({ muted: true, following: expect.any(String) })
  expect((await get(me!, 'app.bsky.feed.getAuthorFeed', { actor: loud!.did })).feed.map((f: any) => f.post.uri)).toEqual([loudPost.uri])
  // still listed where people are listed
  expect(dids((await get(me!, 'app.bsky.graph.getFollows', { actor: me!.did })).follows)).toEqual([other!.did, loud!.did])

  expect((await appviewPost(net, me!, 'app.bsky.graph.unmuteActor', { actor: loud!.did })).status).toBe(200)
  expect(await timeline()).toEqual([otherPost.uri, loudPost.uri, mine.uri])
  expect(await notified()).toEqual([other!.did, loud!.did])
})

test('lists: getList members, getLists by purpose, getListFeed over the members', async () => {
  const [owner, m1, m2, m3, spammer, outsider, viewer] = await users('lown', 'lma', 'lmb', 'lmc', 'lspam', 'lout', 'lview')
  const friends = await create(owner!, 'app.bsky.graph.list', { name: 'friends', purpose: 'app.bsky.graph.defs#curatelist', description: 'good people' })
  const spam = await create(owner!, 'app.bsky.graph.list', { name: 'spam', purpose: 'app.bsky.graph.defs#modlist' })
  const items = new Map<string, Ref>()
  for (const m of [m1!, m2!, m3!]) items.set(m.did, await create(owner!, 'app.bsky.graph.listitem', { subject: m.did, list: friends.uri }))
  await create(owner!, 'app.bsky.graph.listitem', { subject: spammer!.did, list: spam.uri })
  const posts: Ref[] = []
  for (const m of [m1!, m2!, m3!, m1!, m2!]) posts.push(await post(m, `post by ${m.handle}`))
  await repost(m3!, posts[0]!) // reposts are not part of a list feed
  await post(outsider!, 'not on the list')
  await net.processAll()

  const list = await get(viewer!, 'app.bsky.graph.getList', { list: friends.uri })
  expect(list.list).toMatchObject({ uri: friends.uri, name: 'friends', purpose: 'app.bsky.graph.defs#curatelist', listItemCount: 3, description: 'good people' })
  expect(list.list.creator.did).toBe(owner!.did)
  expect(list.items.map((i: any) => i.subject.did)).toEqual([m3!.did, m2!.did, m1!.did])
  expect(list.items[0].uri).toBe(items.get(m3!.did)!.uri)
  const paged = await pages(viewer!, 'app.bsky.graph.getList', { list: friends.uri }, 'items', 2)
  expect(paged.items.map((i: any) => i.subject.did)).toEqual([m3!.did, m2!.did, m1!.did])

  expect((await get(null, 'app.bsky.graph.getLists', { actor: owner!.handle })).lists.map((l: any) => l.uri)).toEqual([spam.uri, friends.uri])
  expect((await get(null, 'app.bsky.graph.getLists', { actor: owner!.did, purposes: ['curatelist'] })).lists.map((l: any) => l.uri)).toEqual([friends.uri])
  expect((await get(null, 'app.bsky.graph.getLists', { actor: owner!.did, purposes: ['modlist'] })).lists.map((l: any) => l.uri)).toEqual([spam.uri])
  expect((await pages(null, 'app.bsky.graph.getLists', { actor: owner!.did }, 'lists', 1)).items.map((l: any) => l.uri)).toEqual([spam.uri, friends.uri])
  expect(await get(null, 'app.bsky.actor.getProfile', { actor: owner!.did })).toMatchObject({ associated: { lists: 2 } })

  const feed = await get(viewer!, 'app.bsky.feed.getListFeed', { list: friends.uri })
  expect(feed.feed.map((f: any) => f.post.uri)).toEqual([...posts].reverse().map((p) => p.uri))
  expect(feed.feed.every((f: any) => f.reason === undefined)).toBe(true)
  const feedPages = await pages(viewer!, 'app.bsky.feed.getListFeed', { list: friends.uri }, 'feed', 2)
  expect(feedPages.items.map((f: any) => f.post.uri)).toEqual([...posts].reverse().map((p) => p.uri))

  // a member who blocks the creator leaves the curation list (for all but the creator) and its feed
  await block(m2!, owner!)
  // a member the viewer blocks leaves the feed for the viewer, not the list
  await block(viewer!, m3!)
  // the modlist keeps the account blocked by its creator
  await block(owner!, spammer!)
  const removed = items.get(m1!.did)!
  await remove(owner!, removed.uri)
  await net.processAll()
  expect((await get(viewer!, 'app.bsky.graph.getList', { list: friends.uri })).items.map((i: any) => i.subject.did)).toEqual([m3!.did])
  expect((await get(owner!, 'app.bsky.graph.getList', { list: friends.uri })).items.map((i: any) => i.subject.did)).toEqual([m3!.did, m2!.did])
  expect((await get(viewer!, 'app.bsky.graph.getList', { list: spam.uri })).items.map((i: any) => i.subject.did)).toEqual([spammer!.did])
  const after = await get(viewer!, 'app.bsky.feed.getListFeed', { list: friends.uri })
  expect(after.feed).toEqual([])
  expect((await get(null, 'app.bsky.feed.getListFeed', { list: friends.uri })).feed.map((f: any) => f.post.uri)).toEqual([posts[2]!.uri])
})

test('likes, reposts and quotes of a post; the viewer’s own likes; duplicates once, deletes drop counts by one', async () => {
  const [author, a, b, c] = await users('iauthor', 'ia', 'ib', 'ic')
  const p = await post(author!, 'likeable')
  const other = await post(author!, 'other')
  const likes = new Map<string, Ref>()
  for (const u of [a!, b!, c!]) likes.set(u.did, await like(u, p))
  const dupLike = await like(a!, p)
  await like(a!, other)
  await repost(b!, p)
  await repost(c!, p)
  const q1 = await post(b!, 'quote one', { embed: { $type: 'app.bsky.embed.record', record: p } })
  const q2 = await post(c!, 'quote two', { embed: { $type: 'app.bsky.embed.record', record: p } })
  await net.processAll()

  const counts = async () => (await get(null, 'app.bsky.feed.getPosts', { uris: [p.uri] })).posts[0]
  expect(await counts()).toMatchObject({ likeCount: 3, repostCount: 2, quoteCount: 2 })

  const liked = await get(b!, 'app.bsky.feed.getLikes', { uri: p.uri, cid: p.cid })
  expect(liked).toMatchObject({ uri: p.uri, cid: p.cid })
  expect(liked.likes.map((l: any) => l.actor.did)).toEqual([c!.did, b!.did, a!.did])
  expect(liked.likes[1].actor.viewer).toEqual({ muted: false, blockedBy: false })
  for (const l of liked.likes) expect(Date.parse(l.createdAt)).toBeGreaterThan(0)
  expect((await pages(null, 'app.bsky.feed.getLikes', { uri: p.uri }, 'likes', 1)).items.map((l: any) => l.actor.did)).toEqual([c!.did, b!.did, a!.did])

  expect(dids((await get(null, 'app.bsky.feed.getRepostedBy', { uri: p.uri })).repostedBy)).toEqual([c!.did, b!.did])
  const quotes = await get(a!, 'app.bsky.feed.getQuotes', { uri: p.uri })
  expect(quotes.posts.map((x: any) => x.uri)).toEqual([q2.uri, q1.uri])
  expect(quotes.posts[0].embed.record).toMatchObject({ uri: p.uri, likeCount: 3 })
  expect((await pages(null, 'app.bsky.feed.getQuotes', { uri: p.uri }, 'posts', 1)).items.map((x: any) => x.uri)).toEqual([q2.uri, q1.uri])

  // the viewer's own likes only: the post once despite the duplicate like
  const own = await get(a!, 'app.bsky.feed.getActorLikes', { actor: a!.handle })
  expect(own.feed.map((f: any) => f.post.uri)).toEqual([other.uri, p.uri])
  expect(own.feed[1].post.viewer.like).toBe(likes.get(a!.did)!.uri)
  expect((await pages(a!, 'app.bsky.feed.getActorLikes', { actor: a!.did }, 'feed', 1)).items.map((f: any) => f.post.uri)).toEqual([other.uri, p.uri])
  for (const viewer of [b!, null]) {
    const res = await appviewGet(net, viewer, 'app.bsky.feed.getActorLikes', { actor: a!.did })
    expect(res.status).toBe(400)
  }

  // a deleted like disappears and the count drops by exactly one; the duplicate's deletion drops nothing
  await remove(c!, likes.get(c!.did)!.uri)
  await remove(a!, dupLike.uri)
  await net.processAll()
  expect((await get(null, 'app.bsky.feed.getLikes', { uri: p.uri })).likes.map((l: any) => l.actor.did)).toEqual([b!.did, a!.did])
  expect(await counts()).toMatchObject({ likeCount: 2 })
  await remove(a!, likes.get(a!.did)!.uri)
  await net.processAll()
  expect((await get(null, 'app.bsky.feed.getLikes', { uri: p.uri })).likes.map((l: any) => l.actor.did)).toEqual([b!.did])
  expect(await counts()).toMatchObject({ likeCount: 1 })
  expect((await get(a!, 'app.bsky.feed.getActorLikes', { actor: a!.did })).feed.map((f: any) => f.post.uri)).toEqual([other.uri])
})

test('deactivated accounts are gone from every list, and back when reactivated', async () => {
  const [star, gone, stays, viewer] = await users('gstar', 'ggone', 'gstays', 'gview')
  const p = await post(star!, 'post')
  for (const u of [gone!, stays!]) {
    await follow(u, star!)
    await like(u, p)
    await repost(u, p)
  }
  await follow(star!, gone!)
  const list = await create(star!, 'app.bsky.graph.list', { name: 'l', purpose: 'app.bsky.graph.defs#curatelist' })
  await create(star!, 'app.bsky.graph.listitem', { subject: gone!.did, list: list.uri })
  await create(star!, 'app.bsky.graph.listitem', { subject: stays!.did, list: list.uri })
  await post(gone!, 'by gone')
  const kept = await post(stays!, 'by stays')
  await net.processAll()
  await gone!.agent.com.atproto.server.deactivateAccount({})
  await net.processAll()

  expect(dids((await get(viewer!, 'app.bsky.graph.getFollowers', { actor: star!.did })).followers)).toEqual([stays!.did])
  expect((await get(viewer!, 'app.bsky.graph.getFollows', { actor: star!.did })).follows).toEqual([])
  expect((await get(viewer!, 'app.bsky.feed.getLikes', { uri: p.uri })).likes.map((l: any) => l.actor.did)).toEqual([stays!.did])
  expect(dids((await get(viewer!, 'app.bsky.feed.getRepostedBy', { uri: p.uri })).repostedBy)).toEqual([stays!.did])
  expect((await get(viewer!, 'app.bsky.graph.getList', { list: list.uri })).items.map((i: any) => i.subject.did)).toEqual([stays!.did])
  expect((await get(viewer!, 'app.bsky.feed.getListFeed', { list: list.uri })).feed.map((f: any) => f.post.uri)).toEqual([kept.uri])
  const rel = await get(null, 'app.bsky.graph.getRelationships', { actor: star!.did, others: [gone!.did] })
  expect(rel.relationships).toEqual([{ $type: 'app.bsky.graph.defs#notFoundActor', actor: gone!.did, notFound: true }])
  const missing = await appviewGet(net, null, 'app.bsky.graph.getFollowers', { actor: gone!.did })
  expect(missing.status).toBe(400)
  expect((await appviewGet(net, null, 'app.bsky.graph.getRelationships', { actor: gone!.did })).body.error).toBe('ActorNotFound')

  await gone!.agent.com.atproto.server.activateAccount()
  await net.processAll()
  expect(dids((await get(viewer!, 'app.bsky.graph.getFollowers', { actor: star!.did })).followers)).toEqual([stays!.did, gone!.did])
  expect((await get(viewer!, 'app.bsky.feed.getLikes', { uri: p.uri })).likes).toHaveLength(2)
})

test('query plan: a getFollowers page walks follow_subject_idx in order (no scan, no temp sort)', async () => {
  const [star] = await users('qstar')
  await net.processAll()
  const db = net.appview.ctx.db
  const did = didOf(star!)
  const cursor = `${Date.now()}::12345`
  for (const c of [undefined, cursor]) {
    const q = edgePageQuery(db, 'follow', 'subject', did, 50, c).compile()
    const plan = db.sqlite
      .prepare(`EXPLAIN QUERY PLAN ${q.sql}`)
      .all(...q.parameters)
      .map((r: any) => String(r.detail))
    expect(plan[0]).toMatch(/^SEARCH follow USING (COVERING )?INDEX follow_subject_idx \(subject=\?/)
    expect(plan.join('\n')).toMatch(/SEARCH dup USING COVERING INDEX follow_pair_idx \(creator=\? AND subject=\?/)
    expect(plan.join('\n')).not.toMatch(/\bSCAN\b|TEMP B-TREE/)
  }
})

test('query plan: a getLikes page walks like_subject_idx by the subject id in order; viewer likes probe like_pair_idx', async () => {
  const [author, fan] = await users('lqauthor', 'lqfan')
  const p = await post(author!, 'liked')
  await like(fan!, p)
  await net.processAll()
  const db = net.appview.ctx.db
  const explain = (q: { sql: string; parameters: readonly unknown[] }) =>
    db.sqlite
      .prepare(`EXPLAIN QUERY PLAN ${q.sql}`)
      .all(...q.parameters)
      .map((r: any) => String(r.detail))
      .join('\n')
  for (const table of ['like', 'repost'] as const) {
    for (const c of [undefined, `${Date.now()}::12345`]) {
      const plan = explain(bySubjectQuery(db, table, p.uri as AtUriString, 50, c).compile())
      expect(plan).toMatch(new RegExp(`^SEARCH ${table} USING (COVERING )?INDEX ${table}_subject_idx \\(subjectId=\\?`))
      expect(plan).toMatch(new RegExp(`SEARCH record_agg USING (COVERING )?INDEX sqlite_autoindex_record_agg_1 \\(uri=\\?\\)`))
      expect(plan).toMatch(new RegExp(`SEARCH dup USING COVERING INDEX ${table}_pair_idx \\(creator=\\? AND subjectId=\\?`))
      expect(plan).not.toMatch(/\bSCAN\b|TEMP B-TREE/)
    }
    const viewerPlan = explain(viewerPairsQuery(db, table, didOf(fan!), [p.uri as AtUriString]).compile())
    expect(viewerPlan).toMatch(new RegExp(`SEARCH pair USING INDEX ${table}_pair_idx \\(creator=\\? AND subjectId=\\?\\)`))
    // (the URI list itself is a json_each scan: inList in db/sql.ts)
    expect(viewerPlan).not.toMatch(/\bSCAN (like|repost|record_agg)\b/)
  }
  // what the plan reads is what the API answers
  expect((await get(null, 'app.bsky.feed.getLikes', { uri: p.uri })).likes.map((l: { actor: { did: string } }) => l.actor.did)).toEqual([fan!.did])
})
