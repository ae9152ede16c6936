/**
 * The fediverse bridge on the whole network, against an independent
 * fediverse peer (test/_fedi-peer.ts: its own HTTP Signatures code, not
 * Fedify): alice turns bridging on by following the bridge's account; the
 * peer finds her by WebFinger, follows her, receives her post as a signed
 * Create(Note) with the right HTML and image, replies and likes; the reply
 * and the like show through AtpAgent on the app view; a delete reaches the
 * peer; forged, replayed and oversized activities change nothing; a restart
 * mid-delivery delivers once; opting out deletes the actor.
 */
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { TestNetwork, freePort, waitUntil, type TestUser } from '@atsuite/dev-env'
import { Bridge, envToConfig, type BridgeConfig, type BridgeOverrides } from '@atsuite/bridge'
import { FediPeer } from './_fedi-peer.ts'
import { PNG } from './_util.ts'


let net: TestNetwork
let alice: TestUser
let bridge: Bridge
let cfg: BridgeConfig
let peer: FediPeer
/** an instance the operator blocked */
let blocked: FediPeer
let dataDir: string
let bridgeDid: string
/** alice's follow of the bridge account (deleting it opts out) */
let optIn: string
let aliceActor: string

/** the web server at alice's handle domain (alice.test on loopback): redirects its WebFinger when she sets that up */
const site = { server: http.createServer(), origin: '', redirectTo: null as string | null }
site.server.on('request', (req, res) => {
  if (site.redirectTo && req.url?.startsWith('/.well-known/webfinger')) {
    res.writeHead(301, { location: `${site.redirectTo}${req.url}` }).end()
    return
  }
  res.writeHead(404).end()
})
/** the bridge reaches alice.test (and nothing else by that route) at the site's loopback address */
const overrides: BridgeOverrides = {
  domainFetch: (input, init) => {
    const url = String(input)
    if (!url.startsWith('https://alice.test/')) return Promise.reject(new Error(`no route to ${url}`))
    return fetch(url.replace('https://alice.test', site.origin), init)
  },
}

const bridgeConfig = (port: number): BridgeConfig =>
  envToConfig({
    BRIDGE_PORT: String(port),
    BRIDGE_DATA_DIRECTORY: dataDir,
    BRIDGE_REPO_STREAM_URL: net.relay.url.replace(/^http/, 'ws'),
    BRIDGE_PLC_URL: net.plc.url,
    BRIDGE_PDS_URL: net.pds.url,
    BRIDGE_STREAM_START: 'oldest',
    BRIDGE_MAX_ACTIVITY_BYTES: '65536',
    BRIDGE_BLOCKED_INSTANCES: `127.0.0.1:${blocked.port}`,
    LOG_ENABLED: 'false',
  })

const startBridge = async (): Promise<Bridge> => {
  const b = await Bridge.create(cfg, overrides)
  await b.start()
  return b
}

/** Waits until the bridge has handled the relay's stream up to now. */
const bridgeCaughtUp = async (): Promise<void> => {
  await net.processAll()
  const seq = net.relay.ctx.eventLog.currentSeq
  await waitUntil(() => (bridge.stream.cursor ?? 0) >= seq, {
    timeoutMs: 20_000,
    wakeOn: [(fn) => bridge.stream.onProgress(fn)],
    pollMs: 100,
    describe: () => `bridge at ${bridge.stream.cursor} waiting for relay seq ${seq}`,
  })
}

/** Polls an async condition (the bridge's database) until it holds. */
const eventually = async (cond: () => Promise<boolean>, label: string, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const inboxOf = () => `${cfg.publicUrl}/ap/inbox`

beforeAll(async () => {
  net = await TestNetwork.create({ appview: true })
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'atsuite-bridge-'))
  await new Promise<void>((resolve) => site.server.listen(0, '127.0.0.1', resolve))
  site.origin = `http://127.0.0.1:${(site.server.address() as AddressInfo).port}`
  blocked = await FediPeer.start()
  cfg = bridgeConfig(await freePort())
  bridge = await startBridge()
  bridgeDid = (await bridge.accounts.bridgeAccount()).did
  alice = await net.createUser('alice')
  peer = await FediPeer.start()
  peer.hosts.set('alice.test', site.origin)
})

afterAll(async () => {
  await peer?.close()
  await blocked?.close()
  await bridge?.destroy()
  await net?.close()
  site.server.closeAllConnections()
  await new Promise((r) => site.server.close(r))
  fs.rmSync(dataDir, { recursive: true, force: true })
})

test('nobody is bridged until they follow the bridge account', async () => {
  await bridgeCaughtUp()
  const before = await peer.webfinger(cfg.publicUrl, `alice.test@${new URL(cfg.publicUrl).host}`)
  expect(before.status).toBe(404)
  const follow = await alice.agent.follow(bridgeDid)
  optIn = follow.uri
  await bridgeCaughtUp()
  expect(await bridge.store.enabledUser(alice.did)).toBeDefined()
})

test('the peer finds alice by WebFinger: a Person with her profile, an RSA key and her DID', async () => {
  await alice.agent.upsertProfile(() => ({
    displayName: 'Alice Liddell',
    description: 'down the rabbit hole\nmore at https://wonderland.example/alice.',
    website: 'https://wonderland.example/',
    pronouns: 'she/her',
  }))
  await bridgeCaughtUp()
  const wf = await peer.webfinger(cfg.publicUrl, `alice.test@${new URL(cfg.publicUrl).host}`)
  expect(wf.status).toBe(200)
  expect(wf.body.subject).toBe(`acct:alice.test@${new URL(cfg.publicUrl).host}`)
  aliceActor = wf.actor!
  const actor = await peer.fetchJson(aliceActor)
  expect(actor.status).toBe(200)
  expect(actor.body).toMatchObject({
    type: 'Person',
    id: aliceActor,
    preferredUsername: 'alice.test',
    name: 'Alice Liddell',
    alsoKnownAs: alice.did,
    endpoints: { sharedInbox: inboxOf() },
  })
  expect(actor.body.summary).toBe('<p>down the rabbit hole<br>more at <a href="https://wonderland.example/alice" rel="nofollow noopener" target="_blank">https://wonderland.example/alice</a>.</p>')
  // the website and pronouns as profile fields (Mastodon's PropertyValue attachments)
  expect([actor.body.attachment].flat()).toEqual([
    { type: 'PropertyValue', name: 'Website', value: '<a href="https://wonderland.example/" rel="me nofollow noopener" target="_blank">wonderland.example</a>' },
    { type: 'PropertyValue', name: 'Pronouns', value: 'she/her' },
  ])
  expect(actor.body.publicKey.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/)
  expect(actor.body.inbox).toMatch(/\/inbox$/)
})

test('alice.test@alice.test resolves, Mastodon-style, once her domain redirects its WebFinger to the bridge', async () => {
  const bridgeHost = new URL(cfg.publicUrl).host
  // no redirect at her domain: that address does not resolve, the bridge-host one does and stays canonical
  await expect(peer.resolveAccount('alice.test@alice.test')).rejects.toThrow(/404/)
  expect((await peer.resolveAccount(`alice.test@${bridgeHost}`)).address).toBe(`alice.test@${bridgeHost}`)
  // she redirects https://alice.test/.well-known/webfinger to the bridge; a lookup soon after resolves
  site.redirectTo = cfg.publicUrl
  let resolved: { address: string; actor: { id: string } } | undefined
  await eventually(async () => (resolved = await peer.resolveAccount('alice.test@alice.test').catch(() => undefined)) !== undefined, 'the domain address', 30_000)
  expect(resolved!.address).toBe('alice.test@alice.test')
  expect(resolved!.actor.id).toBe(aliceActor)
  // found by the bridge-host address, the account's address is now the domain one
  expect((await peer.resolveAccount(`alice.test@${bridgeHost}`)).address).toBe('alice.test@alice.test')
  // other names at her domain are not ours to answer
  const other = await fetch(`${cfg.publicUrl}/.well-known/webfinger?resource=${encodeURIComponent('acct:bob@alice.test')}`)
  expect(other.status).toBe(404)
  // the redirect removed: a lookup through the bridge host still works (the domain form until the next check)
  site.redirectTo = null
  expect((await peer.webfinger(cfg.publicUrl, `alice.test@${bridgeHost}`)).status).toBe(200)
  site.redirectTo = cfg.publicUrl
}, 60_000)

test('the peer follows alice and gets a signed Accept; her post arrives as a signed Create(Note) with HTML and the image', async () => {
  const followId = peer.activityId()
  expect(await peer.post(inboxOf(), 'bob', { '@context': 'https://www.w3.org/ns/activitystreams', id: followId, type: 'Follow', actor: peer.actorUrl('bob'), object: aliceActor })).toBe(202)
  const accept = await peer.waitFor((d) => d.find((x) => x.activity?.type === 'Accept'), 'the Accept')
  expect(accept.verified).toBe(true)
  expect(accept.keyId).toContain(aliceActor)
  expect(await bridge.store.followers(alice.did)).toHaveLength(1)
  // the follow is in the network too: bob's mirror account follows alice
  await eventually(async () => (await bridge.store.mapped(followId)) !== undefined, 'the follow record')
  await net.processAll()
  const followersOfAlice = await alice.agent.getFollowers({ actor: alice.did })
  expect(followersOfAlice.data.followers.map((f) => f.displayName)).toContain('Bob on the fediverse')

  const blob = await alice.agent.uploadBlob(PNG, { encoding: 'image/png' })
  const text = 'hello fediverse, see https://example.com/page #atproto'
  const linkStart = Buffer.byteLength('hello fediverse, see ')
  const tagStart = Buffer.byteLength('hello fediverse, see https://example.com/page ')
  const post = await alice.agent.post({
    text,
    langs: ['en'],
    facets: [
      { index: { byteStart: linkStart, byteEnd: linkStart + 'https://example.com/page'.length }, features: [{ $type: 'app.bsky.richtext.facet#link', uri: 'https://example.com/page' }] },
      { index: { byteStart: tagStart, byteEnd: tagStart + '#atproto'.length }, features: [{ $type: 'app.bsky.richtext.facet#tag', tag: 'atproto' }] },
    ],
    embed: { $type: 'app.bsky.embed.images', images: [{ image: blob.data.blob, alt: 'a single pixel' }] },
    createdAt: new Date().toISOString(),
  })
  const create = await peer.waitFor((d) => d.find((x) => x.activity?.type === 'Create'), 'the Create')
  expect(create.verified).toBe(true)
  // delivered once, to the shared inbox
  expect(create.path).toBe('/inbox')
  const note = create.activity.object
  expect(note.type).toBe('Note')
  expect(note.attributedTo).toBe(aliceActor)
  // public, in any of the spellings Mastodon accepts for the public collection
  expect([create.activity.to].flat().some((t: string) => ['https://www.w3.org/ns/activitystreams#Public', 'as:Public', 'Public'].includes(t))).toBe(true)
  expect(note.content).toContain('<a href="https://example.com/page"')
  expect(note.content).toMatch(/class="mention hashtag" rel="tag">#<span>atproto<\/span><\/a>/)
  expect(note.contentMap?.en).toBe(note.content)
  const attachments = [note.attachment].flat()
  expect(attachments).toHaveLength(1)
  expect(attachments[0]).toMatchObject({ type: 'Document', mediaType: 'image/png', name: 'a single pixel' })
  // the attachment URL serves the image
  const img = await fetch(attachments[0].url)
  expect(img.status).toBe(200)
  expect(Buffer.from(await img.arrayBuffer())).toEqual(PNG)
  // the note is fetchable at its id, and listed in alice's outbox
  const fetched = await peer.fetchJson(note.id)
  expect(fetched.body).toMatchObject({ id: note.id, type: 'Note' })
  const actorDoc = await peer.fetchJson(aliceActor)
  const outbox = await peer.fetchJson(actorDoc.body.outbox)
  expect(outbox.body).toMatchObject({ type: 'OrderedCollection', totalItems: 1 })
  expect([outbox.body.orderedItems].flat().map((a: { object?: { id?: string } }) => a.object?.id)).toEqual([note.id])
  ;(globalThis as { alicePost?: unknown }).alicePost = { uri: post.uri, cid: post.cid, noteId: note.id }
})

test('a reply and a like from the peer show in the thread, the count and alice\'s notifications', async () => {
  const { uri, noteId } = (globalThis as { alicePost?: { uri: string; noteId: string } }).alicePost!
  const replyNote = `${peer.origin}/notes/${Date.now()}`
  const reply = {
    '@context': 'https://www.w3.org/ns/activitystreams',
    id: `${replyNote}/activity`,
    type: 'Create',
    actor: peer.actorUrl('bob'),
    to: ['https://www.w3.org/ns/activitystreams#Public'],
    object: {
      id: replyNote,
      type: 'Note',
      attributedTo: peer.actorUrl('bob'),
      inReplyTo: noteId,
      content: '<p><span class="h-card"><a href="' + aliceActor + '" class="u-url mention">@<span>alice.test</span></a></span> lovely! <script>alert(1)</script>see <a href="https://example.org/x">https://example.org/x</a></p>',
      published: new Date().toISOString(),
      to: ['https://www.w3.org/ns/activitystreams#Public'],
    },
  }
  expect(await peer.post(inboxOf(), 'bob', reply)).toBe(202)
  const likeId = peer.activityId()
  const like = { '@context': 'https://www.w3.org/ns/activitystreams', id: likeId, type: 'Like', actor: peer.actorUrl('bob'), object: noteId }
  expect(await peer.post(inboxOf(), 'bob', like)).toBe(202)

  await eventually(async () => (await bridge.store.mapped(likeId)) !== undefined, 'the like written')
  await eventually(async () => (await bridge.store.mapped(replyNote)) !== undefined, 'the reply written')
  await net.processAll()

  const thread = await alice.agent.getPostThread({ uri })
  const replies = (thread.data.thread as { replies?: { post: { record: { text: string; facets?: unknown[] }; author: { displayName?: string; did: string } } }[] }).replies ?? []
  expect(replies).toHaveLength(1)
  const r = replies[0].post
  expect(r.record.text).toBe('@alice.test lovely! see https://example.org/x')
  expect(r.author.displayName).toBe('Bob on the fediverse')
  // the mention of alice is a mention facet of her DID, the link a link facet
  expect(r.record.facets).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ features: [{ $type: 'app.bsky.richtext.facet#mention', did: alice.did }] }),
      expect.objectContaining({ features: [{ $type: 'app.bsky.richtext.facet#link', uri: 'https://example.org/x' }] }),
    ]),
  )
  const posts = await alice.agent.getPosts({ uris: [uri] })
  expect(posts.data.posts[0].likeCount).toBe(1)
  expect(posts.data.posts[0].replyCount).toBe(1)
  const notes = await alice.agent.listNotifications()
  const reasons = notes.data.notifications.map((n) => n.reason)
  // a reply that also mentions her notifies once, as a reply (as the reference app view does)
  expect(reasons).toEqual(expect.arrayContaining(['like', 'reply']))

  // the same Like again (a replay): still one like
  expect(await peer.post(inboxOf(), 'bob', like)).toBe(202)
  await new Promise((r) => setTimeout(r, 500))
  await net.processAll()
  expect((await alice.agent.getPosts({ uris: [uri] })).data.posts[0].likeCount).toBe(1)
})

test('forged, expired and missing signatures, blocked instances and oversized bodies are refused with no effect', async () => {
  const { uri, noteId } = (globalThis as { alicePost?: { uri: string; noteId: string } }).alicePost!
  const fromBlocked = { '@context': 'https://www.w3.org/ns/activitystreams', id: blocked.activityId(), type: 'Follow', actor: blocked.actorUrl('eve'), object: aliceActor }
  expect(await blocked.post(inboxOf(), 'eve', fromBlocked)).toBe(403)
  const forged = { '@context': 'https://www.w3.org/ns/activitystreams', id: peer.activityId(), type: 'Like', actor: peer.actorUrl('mallory'), object: noteId }
  const status = await peer.post(inboxOf(), 'mallory', forged, { forge: true })
  expect(status).toBeGreaterThanOrEqual(400)
  expect(status).toBeLessThan(500)
  const huge = Buffer.from(JSON.stringify({ ...forged, id: peer.activityId(), content: 'x'.repeat(100_000) }))
  expect(await peer.post(inboxOf(), 'bob', null, { raw: huge })).toBe(413)
  const unsigned = await fetch(inboxOf(), { method: 'POST', headers: { 'content-type': 'application/activity+json' }, body: JSON.stringify(forged) })
  expect(unsigned.status).toBe(401)
  // a genuine signature made three hours ago (a captured request replayed later): expired
  const stale = { ...forged, id: peer.activityId(), actor: peer.actorUrl('bob') }
  expect(await peer.post(inboxOf(), 'bob', stale, { date: new Date(Date.now() - 3 * 3600_000) })).toBe(401)
  await new Promise((r) => setTimeout(r, 500))
  await net.processAll()
  expect((await alice.agent.getPosts({ uris: [uri] })).data.posts[0].likeCount).toBe(1)
  expect(await bridge.store.mapped(forged.id)).toBeUndefined()
  expect(await bridge.store.mapped(stale.id)).toBeUndefined()
  expect((await bridge.store.followers(alice.did)).map((f) => f.actorUri)).toEqual([peer.actorUrl('bob')])
})

test('a fediverse follower alice blocks stops following her and is sent a Block', async () => {
  const followId = peer.activityId()
  expect(await peer.post(inboxOf(), 'carol', { '@context': 'https://www.w3.org/ns/activitystreams', id: followId, type: 'Follow', actor: peer.actorUrl('carol'), object: aliceActor })).toBe(202)
  await eventually(async () => (await bridge.store.mapped(followId)) !== undefined, "carol's follow")
  const carol = await bridge.db.kysely.selectFrom('remote_actor').selectAll().where('uri', '=', peer.actorUrl('carol')).executeTakeFirstOrThrow()
  await alice.agent.app.bsky.graph.block.create({ repo: alice.did }, { subject: carol.did, createdAt: new Date().toISOString() })
  const block = await peer.waitFor((d) => d.find((x) => x.activity?.type === 'Block' && x.activity.object === peer.actorUrl('carol')), 'the Block')
  expect(block.verified).toBe(true)
  expect((await bridge.store.followers(alice.did)).map((f) => f.actorUri)).toEqual([peer.actorUrl('bob')])
})

test("alice follows, likes, replies to and boosts the fediverse account, and edits her profile: each reaches it, and its posts come into the network", async () => {
  const mirror = await bridge.db.kysely.selectFrom('remote_actor').selectAll().where('uri', '=', peer.actorUrl('bob')).executeTakeFirstOrThrow()
  await alice.agent.follow(mirror.did)
  const follow = await peer.waitFor((d) => d.find((x) => x.activity?.type === 'Follow' && x.activity.object === peer.actorUrl('bob')), 'the Follow')
  expect(follow.verified).toBe(true)
  expect(follow.activity.actor).toBe(aliceActor)
  // bob accepts and posts; followed by one of our users, the post comes in
  expect(await peer.post(inboxOf(), 'bob', { '@context': 'https://www.w3.org/ns/activitystreams', id: peer.activityId(), type: 'Accept', actor: peer.actorUrl('bob'), object: follow.activity })).toBe(202)
  const noteId = `${peer.origin}/notes/own-${Date.now()}`
  const create = {
    '@context': 'https://www.w3.org/ns/activitystreams',
    id: `${noteId}/activity`,
    type: 'Create',
    actor: peer.actorUrl('bob'),
    to: ['https://www.w3.org/ns/activitystreams#Public'],
    object: { id: noteId, type: 'Note', attributedTo: peer.actorUrl('bob'), content: '<p>greetings from the fediverse &amp; beyond</p>', to: ['https://www.w3.org/ns/activitystreams#Public'] },
  }
  expect(await peer.post(inboxOf(), 'bob', create)).toBe(202)
  await eventually(async () => (await bridge.store.mapped(noteId)) !== undefined, 'the post written')
  await net.processAll()
  const timeline = await alice.agent.getTimeline()
  const item = timeline.data.feed.find((f) => f.post.author.did === mirror.did && (f.post.record as { text: string }).text === 'greetings from the fediverse & beyond')
  expect(item).toBeDefined()
  // her like of it goes to bob as a Like of his note
  await alice.agent.like(item!.post.uri, item!.post.cid)
  const like = await peer.waitFor((d) => d.find((x) => x.activity?.type === 'Like' && x.activity.object === noteId), 'the Like')
  expect(like.verified).toBe(true)
  // and a reply to it goes to bob with inReplyTo his note
  await alice.agent.post({ text: 'hello bob', reply: { root: { uri: item!.post.uri, cid: item!.post.cid }, parent: { uri: item!.post.uri, cid: item!.post.cid } }, createdAt: new Date().toISOString() })
  const reply = await peer.waitFor((d) => d.find((x) => x.activity?.type === 'Create' && x.activity.object?.inReplyTo === noteId), 'the reply')
  expect(reply.verified).toBe(true)
  expect(reply.activity.object.content).toContain('hello bob')
  // her repost of it is a boost of his note to her followers
  await alice.agent.repost(item!.post.uri, item!.post.cid)
  const boost = await peer.waitFor((d) => d.find((x) => x.activity?.type === 'Announce' && x.activity.object === noteId), 'the Announce')
  expect(boost.verified).toBe(true)
  // and her profile edit reaches her followers as an Update of the actor
  await alice.agent.upsertProfile((p) => ({ ...p, displayName: 'Alice in Wonderland' }))
  const update = await peer.waitFor((d) => d.find((x) => x.activity?.type === 'Update' && x.activity.object?.name === 'Alice in Wonderland'), 'the Update')
  expect(update.verified).toBe(true)
  expect(update.activity.object.id).toBe(aliceActor)
})

test('a delete reaches the peer; a restart mid-delivery delivers once', async () => {
  const { uri, noteId } = (globalThis as { alicePost?: { uri: string; noteId: string } }).alicePost!
  await alice.agent.deletePost(uri)
  const del = await peer.waitFor((d) => d.find((x) => x.activity?.type === 'Delete' && (x.activity.object?.id ?? x.activity.object) === noteId), 'the Delete')
  expect(del.verified).toBe(true)

  // the peer goes down; alice posts; the bridge is restarted while the delivery waits to be retried
  peer.down = true
  const refusedBefore = peer.refused
  const second = await alice.agent.post({ text: 'while you were away', createdAt: new Date().toISOString() })
  await eventually(async () => peer.refused > refusedBefore, 'a refused attempt')
  await bridgeCaughtUp()
  await bridge.destroy()
  bridge = await startBridge()
  peer.down = false
  const creates = () => peer.delivered.filter((x) => x.verified && x.activity?.type === 'Create' && x.activity.object?.content?.includes('while you were away'))
  await peer.waitFor(() => creates().length >= 1 || undefined, 'the post after the restart', 90_000)
  await new Promise((r) => setTimeout(r, 1500))
  expect(creates()).toHaveLength(1)
  expect(second.uri).toMatch(/^at:/)
}, 120_000)

test('a firehose replay (a crash before the cursor was saved) sends nothing twice', async () => {
  await bridgeCaughtUp()
  const before = bridge.stream.cursor!
  await alice.agent.post({ text: 'said once', createdAt: new Date().toISOString() })
  const creates = () => peer.delivered.filter((x) => x.activity?.type === 'Create' && x.activity.object?.content?.includes('said once'))
  await peer.waitFor(() => creates().length >= 1 || undefined, 'the post')
  await bridgeCaughtUp()
  await bridge.destroy()
  // the bridge comes back with its cursor before the post: the event is handled again
  bridge = await Bridge.create(cfg, overrides)
  bridge.store.setCursor('firehose', before)
  await bridge.start()
  await bridgeCaughtUp()
  await new Promise((r) => setTimeout(r, 1500))
  expect(bridge.deliveries.stats.duplicatesDropped).toBeGreaterThanOrEqual(1)
  expect(creates()).toHaveLength(1)
})

test('an instance that stays down is given up on after the bounded time, skipped, and served again once it is heard from', async () => {
  const far = await FediPeer.start()
  try {
    const farHost = `127.0.0.1:${far.port}`
    expect(await far.post(inboxOf(), 'dave', { '@context': 'https://www.w3.org/ns/activitystreams', id: far.activityId(), type: 'Follow', actor: far.actorUrl('dave'), object: aliceActor })).toBe(202)
    await far.waitFor((d) => d.find((x) => x.activity?.type === 'Accept'), 'the Accept')
    // a bridge that gives a delivery up after 3 s
    await bridge.destroy()
    cfg = { ...cfg, delivery: { ...cfg.delivery, giveUpMs: 3_000, deadProbeMs: 10 * 60_000 } }
    bridge = await startBridge()
    far.down = true
    const posted = (text: string) => (d: typeof far.delivered) => d.find((x) => x.activity?.type === 'Create' && x.activity.object?.content?.includes(text))
    await alice.agent.post({ text: 'into the void', createdAt: new Date().toISOString() })
    await peer.waitFor(posted('into the void'), 'the post at the live instance')
    await eventually(async () => bridge.deliveries.instance(farHost)?.deadSince != null, 'the instance given up', 30_000)
    expect(far.refused).toBeGreaterThanOrEqual(2)
    expect(bridge.deliveries.stats.gaveUp).toBe(1)
    await eventually(async () => bridge.queueDepth() === 0, 'nothing left queued')

    // dead: the next post is not even tried there
    const refusedBefore = far.refused
    await alice.agent.post({ text: 'nobody home', createdAt: new Date().toISOString() })
    await peer.waitFor(posted('nobody home'), 'the next post at the live instance')
    await eventually(async () => bridge.queueDepth() === 0, 'nothing left queued')
    expect(far.refused).toBe(refusedBefore)
    expect(bridge.deliveries.stats.deadDropped).toBeGreaterThanOrEqual(1)

    // the instance is back and says something (a signed activity): deliveries resume
    far.down = false
    expect(await far.post(inboxOf(), 'dave', { '@context': 'https://www.w3.org/ns/activitystreams', id: far.activityId(), type: 'Follow', actor: far.actorUrl('dave'), object: aliceActor })).toBe(202)
    await eventually(async () => bridge.deliveries.instance(farHost)?.deadSince == null, 'the instance revived')
    await alice.agent.post({ text: 'welcome back', createdAt: new Date().toISOString() })
    // signed as Mastodon verifies it at the first try (the 503s did not switch the signature spec)
    const back = await far.waitFor(posted('welcome back'), 'the post after the return')
    expect(back.verified).toBe(true)
    expect(back.keyId).toContain(aliceActor)
    expect(far.delivered.filter((x) => x.activity?.type === 'Create' && /into the void|nobody home/.test(x.activity.object?.content ?? ''))).toHaveLength(0)
  } finally {
    await far.close()
  }
}, 90_000)

test('opting out deletes the actor on the fediverse and stops WebFinger', async () => {
  const rkey = optIn.split('/').pop()!
  await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: 'app.bsky.graph.follow', rkey })
  const del = await peer.waitFor((d) => d.find((x) => x.activity?.type === 'Delete' && x.activity.object === aliceActor), 'the actor Delete')
  expect(del.verified).toBe(true)
  const wf = await peer.webfinger(cfg.publicUrl, `alice.test@${new URL(cfg.publicUrl).host}`)
  expect(wf.status).toBe(404)
  expect((await peer.fetchJson(aliceActor)).status).toBe(404)
})
