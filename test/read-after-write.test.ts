/**
 * Read-after-write through the PDS: with the app view lagging (the relay is
 * stopped, so nothing new reaches it), a user's reads through their PDS
 * already show what they just wrote: new posts on top of their timeline and
 * author feed, new replies under their parent, a post the app view does not
 * know served as a thread from their repo, profile edits in getProfile(s),
 * with `Atproto-Upstream-Lag`. Every merged answer passes the PDS's response
 * validation. Once the app view catches up, the same reads are its own, with
 * nothing twice.
 */
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { appviewGet } from './_appview.ts'

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64')

let net: TestNetwork
let alice: TestUser
let bob: TestUser
type Ref = { uri: string; cid: string }
let aliceOld: Ref
let bobOld: Ref
const fresh: Record<string, Ref> = {}

const ref = (r: Ref) => ({ uri: r.uri, cid: r.cid })

beforeAll(async () => {
  net = await TestNetwork.create({ appview: true })
  alice = await net.createUser('alice')
  bob = await net.createUser('bob')
  await alice.agent.upsertProfile(() => ({ displayName: 'Alice', description: 'before' }))
  aliceOld = await alice.agent.post({ text: 'alice, indexed' })
  bobOld = await bob.agent.post({ text: 'bob, indexed' })
  await alice.agent.follow(bob.did)
  await bob.agent.follow(alice.did)
  await net.processAll()
  // from here the app view lags: nothing written reaches it until the relay is back
  await net.service('relay').destroy()
})

afterAll(async () => {
  await net?.close()
})

const appviewKnows = async (uri: string): Promise<boolean> => {
  const res = await appviewGet(net, alice, 'app.bsky.feed.getPosts', { uris: [uri] })
  return res.body.posts.length > 0
}

test("the user's new post tops their timeline and author feed before the app view has it", async () => {
  const before = (await alice.agent.getTimeline()).data.feed.map((f) => f.post.uri)
  expect(before).toEqual([bobOld.uri, aliceOld.uri])
  fresh.post = await alice.agent.post({ text: 'just written' })
  expect(await appviewKnows(fresh.post.uri)).toBe(false)

  const tl = await alice.agent.getTimeline()
  expect(tl.data.feed.map((f) => f.post.uri)).toEqual([fresh.post.uri, ...before])
  expect(tl.data.feed[0]!.post).toMatchObject({
    uri: fresh.post.uri,
    cid: fresh.post.cid,
    author: { did: alice.did, handle: 'alice.test', displayName: 'Alice' },
    record: { text: 'just written' },
    likeCount: 0,
    replyCount: 0,
  })
  expect(Number(tl.headers['atproto-upstream-lag'])).toBeGreaterThanOrEqual(0)

  const own = await alice.agent.getAuthorFeed({ actor: 'alice.test' })
  expect(own.data.feed.map((f) => f.post.uri)).toEqual([fresh.post.uri, aliceOld.uri])
  // pages: a new post newer than the page's last item goes on it, and on no later page
  const first = await alice.agent.getAuthorFeed({ actor: alice.did, limit: 1 })
  expect(first.data.feed.map((f) => f.post.uri)).toEqual([fresh.post.uri, aliceOld.uri])
  expect(first.data.cursor).toBeDefined()
  const later = await alice.agent.getAuthorFeed({ actor: alice.did, limit: 1, cursor: first.data.cursor })
  expect(later.data.feed.map((f) => f.post.uri)).not.toContain(fresh.post.uri)

  // others see what the app view has: bob's PDS has nothing of alice's to add
  expect((await bob.agent.getTimeline()).data.feed.map((f) => f.post.uri)).not.toContain(fresh.post.uri)
  expect((await bob.agent.getAuthorFeed({ actor: alice.did })).data.feed.map((f) => f.post.uri)).toEqual([aliceOld.uri])
})

test("a post only the user's repo has yet is served as a thread; new replies show under their parent", async () => {
  fresh.root = await alice.agent.post({ text: 'a thread the app view has not seen' })
  fresh.ownReply = await alice.agent.post({ text: 'and a reply to it', reply: { root: ref(fresh.root), parent: ref(fresh.root) } })

  const thread = await alice.agent.getPostThread({ uri: fresh.root.uri })
  const t = thread.data.thread as any
  expect(t.post).toMatchObject({ uri: fresh.root.uri, author: { did: alice.did }, record: { text: 'a thread the app view has not seen' } })
  expect(t.replies.map((r: any) => r.post.uri)).toEqual([fresh.ownReply.uri])
  expect(t.parent).toBeUndefined()
  expect(thread.headers['atproto-upstream-lag']).toBeDefined()

  // from the reply: its parent is the new root, built locally too
  const up = (await alice.agent.getPostThread({ uri: fresh.ownReply.uri })).data.thread as any
  expect(up.post.uri).toBe(fresh.ownReply.uri)
  expect(up.parent.post.uri).toBe(fresh.root.uri)

  // named by handle
  const byHandle = await alice.agent.getPostThread({ uri: fresh.root.uri.replace(alice.did, 'alice.test') })
  expect((byHandle.data.thread as any).post.uri).toBe(fresh.root.uri)

  // to anyone else it does not exist yet: the app view's NotFound
  const other = await fetch(`${net.pds.url}/xrpc/app.bsky.feed.getPostThread?uri=${encodeURIComponent(fresh.root.uri)}`, {
    headers: { authorization: `Bearer ${bob.agent.session!.accessJwt}` },
  })
  expect(other.status).toBe(400)
  expect(((await other.json()) as any).error).toBe('NotFound')

  // a reply to an indexed post: under it, first, for its author
  fresh.bobReply = await bob.agent.post({ text: 'bob replies late', reply: { root: ref(aliceOld), parent: ref(aliceOld) } })
  const withReply = (await bob.agent.getPostThread({ uri: aliceOld.uri })).data.thread as any
  expect(withReply.post.uri).toBe(aliceOld.uri)
  expect(withReply.replies.map((r: any) => r.post.uri)).toEqual([fresh.bobReply.uri])
  expect(withReply.replies[0].post.author).toMatchObject({ did: bob.did, handle: 'bob.test' })
  // the parent of a reply the app view does not know comes from the app view
  const bobThread = (await bob.agent.getPostThread({ uri: fresh.bobReply.uri })).data.thread as any
  expect(bobThread.post.uri).toBe(fresh.bobReply.uri)
  expect(bobThread.parent.post).toMatchObject({ uri: aliceOld.uri, author: { did: alice.did } })
  // alice does not see bob's reply: it is in bob's repo
  const asAlice = (await alice.agent.getPostThread({ uri: aliceOld.uri })).data.thread as any
  expect(asAlice.replies ?? []).toEqual([])
})

test('profile edits show in getProfile and getProfiles, and on the user’s own posts in their feeds', async () => {
  const indexed = await appviewGet(net, alice, 'app.bsky.actor.getProfile', { actor: alice.did })
  await alice.agent.upsertProfile((p) => ({ ...p, displayName: 'Alice Edited', description: 'after' }))

  const profile = await alice.agent.getProfile({ actor: alice.did })
  expect(profile.data).toMatchObject({ did: alice.did, displayName: 'Alice Edited', description: 'after' })
  // posts the app view has not counted yet are counted
  expect(profile.data.postsCount).toBe(indexed.body.postsCount + 3)
  expect(profile.headers['atproto-upstream-lag']).toBeDefined()

  const profiles = await alice.agent.getProfiles({ actors: [alice.did, bob.did] })
  expect(profiles.data.profiles.map((p) => [p.did, p.displayName ?? null])).toEqual([
    [alice.did, 'Alice Edited'],
    [bob.did, null],
  ])
  // others still see the indexed profile
  expect((await bob.agent.getProfile({ actor: alice.did })).data.displayName).toBe('Alice')

  const tl = await alice.agent.getTimeline()
  for (const item of tl.data.feed.filter((f) => f.post.author.did === alice.did)) expect(item.post.author.displayName).toBe('Alice Edited')
})

test('embeds of new posts: images served by the PDS, quoted posts from the app view', async () => {
  const blob = await alice.agent.uploadBlob(PNG, { encoding: 'image/png' })
  fresh.quote = await alice.agent.post({
    text: 'look at this',
    embed: {
      $type: 'app.bsky.embed.recordWithMedia',
      record: { $type: 'app.bsky.embed.record', record: ref(bobOld) },
      media: { $type: 'app.bsky.embed.images', images: [{ image: blob.data.blob, alt: 'a pixel', aspectRatio: { width: 1, height: 1 } }] },
    },
  })
  const tl = await alice.agent.getTimeline()
  const item = tl.data.feed[0]!
  expect(item.post.uri).toBe(fresh.quote.uri)
  const embed = item.post.embed as any
  expect(embed.$type).toBe('app.bsky.embed.recordWithMedia#view')
  expect(embed.record.record).toMatchObject({ $type: 'app.bsky.embed.record#viewRecord', uri: bobOld.uri, author: { did: bob.did }, value: { text: 'bob, indexed' } })
  expect(embed.media.images[0]).toMatchObject({ alt: 'a pixel', aspectRatio: { width: 1, height: 1 } })
  const img = await fetch(embed.media.images[0].thumb)
  expect(img.status).toBe(200)
  expect(Buffer.from(await img.arrayBuffer()).equals(PNG)).toBe(true)

  // quoting one of the user's own new posts: built locally
  fresh.selfQuote = await alice.agent.post({ text: 'quoting myself', embed: { $type: 'app.bsky.embed.record', record: ref(fresh.post) } })
  const again = (await alice.agent.getTimeline()).data.feed[0]!
  expect((again.post.embed as any).record).toMatchObject({ $type: 'app.bsky.embed.record#viewRecord', uri: fresh.post.uri, value: { text: 'just written' } })
})

test('once the app view catches up, the same reads are its own, with nothing twice', async () => {
  await net.service('relay').start()
  await net.processAll(30_000)
  for (const r of Object.values(fresh)) expect(await appviewKnows(r.uri)).toBe(true)

  const tl = await alice.agent.getTimeline()
  const uris = tl.data.feed.map((f) => f.post.uri)
  expect(new Set(uris).size).toBe(uris.length)
  expect(uris.slice(0, 2)).toEqual([fresh.selfQuote!.uri, fresh.quote!.uri])
  expect(tl.headers['atproto-upstream-lag']).toBeUndefined()

  const thread = (await alice.agent.getPostThread({ uri: fresh.root!.uri })).data.thread as any
  expect(thread.replies.map((r: any) => r.post.uri)).toEqual([fresh.ownReply!.uri])
  const profile = await alice.agent.getProfile({ actor: alice.did })
  expect(profile.data.displayName).toBe('Alice Edited')
  expect(profile.headers['atproto-upstream-lag']).toBeUndefined()
  const withReply = (await bob.agent.getPostThread({ uri: aliceOld.uri })).data.thread as any
  expect(withReply.replies.map((r: any) => r.post.uri)).toEqual([fresh.bobReply!.uri])
})
