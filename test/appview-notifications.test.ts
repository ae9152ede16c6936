/**
 * Notifications on the whole network (PDS → relay → app view): every reason
 * with its author, record and subject, newest first; the reasons filter and
 * paging; unread counts and isRead around updateSeen; deletes; authors hidden
 * by blocks, mutes, deactivation or a threadgate; replies racing their
 * parents; the page query's plan.
 */
import { isValidDid, type DidString } from '@atproto/syntax'
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { notificationsPageQuery } from '../packages/appview/src/data/notification.ts'
import { appviewGet, appviewPost } from './_appview.ts'

let net: TestNetwork
let n = 0

beforeAll(async () => {
  net = await TestNetwork.create({ appview: true })
})

afterAll(async () => {
  await net?.close()
})

const users = async (...names: string[]): Promise<TestUser[]> => {
  n++
  const out: TestUser[] = []
  for (const name of names) out.push(await net.createUser(`${name}${n}`))
  return out
}

type Ref = { uri: string; cid: string }

const create = async (user: TestUser, collection: string, record: Record<string, unknown>, rkey?: string): Promise<Ref> => {
  const res = await user.agent.com.atproto.repo.createRecord({
    repo: user.did,
    collection,
    ...(rkey ? { rkey } : {}),
    record: { $type: collection, createdAt: new Date().toISOString(), ...record },
  })
  return { uri: res.data.uri, cid: res.data.cid }
}

const remove = async (user: TestUser, uri: string): Promise<void> => {
  const [, , , collection, rkey] = uri.split('/')
  await user.agent.com.atproto.repo.deleteRecord({ repo: user.did, collection: collection!, rkey: rkey! })
}

const post = (user: TestUser, text: string, extra: Record<string, unknown> = {}) => create(user, 'app.bsky.feed.post', { text, ...extra })
const reply = (user: TestUser, root: Ref, parent: Ref, text = 'a reply') => post(user, text, { reply: { root, parent } })
const like = (user: TestUser, subject: Ref) => create(user, 'app.bsky.feed.like', { subject })
const follow = (user: TestUser, subject: TestUser) => create(user, 'app.bsky.graph.follow', { subject: subject.did })

const list = async (viewer: TestUser, params: Record<string, string | number | string[]> = {}) => {
  const res = await appviewGet(net, viewer, 'app.bsky.notification.listNotifications', params)
  if (res.status !== 200) throw new Error(`listNotifications: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

const unread = async (viewer: TestUser): Promise<number> => {
  const res = await appviewGet(net, viewer, 'app.bsky.notification.getUnreadCount')
  expect(res.status).toBe(200)
  return res.body.count
}

const seen = async (viewer: TestUser, seenAt: string) => {
  const res = await appviewPost(net, viewer, 'app.bsky.notification.updateSeen', { seenAt })
  expect(res.status).toBe(200)
}

const didOf = (user: TestUser): DidString => {
  if (!isValidDid(user.did)) throw new Error(`not a DID: ${user.did}`)
  return user.did
}

/** (reason, author, record URI) of each notification, in order. */
const summary = (body: { notifications: any[] }) => body.notifications.map((x) => [x.reason, x.author.did, x.uri])

test('every reason with its author, record and subject, newest first; the reasons filter; paging', async () => {
  const [me, a, b, c, d, e, f, g] = await users('nme', 'na', 'nb', 'nc', 'nd', 'ne', 'nf', 'ng')
  const p = await post(me!, 'my post')
  const liked = await like(a!, p)
  const reposted = await create(b!, 'app.bsky.feed.repost', { subject: p })
  const followed = await follow(c!, me!)
  const replied = await reply(d!, p, p)
  const text = `hi @${me!.handle}`
  const mentioned = await post(e!, text, {
    facets: [{ index: { byteStart: 3, byteEnd: Buffer.byteLength(text) }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: me!.did }] }],
  })
  const quoted = await post(f!, 'look', { embed: { $type: 'app.bsky.embed.record', record: p } })
  // a reply deeper in my thread notifies me (as the root's author) and its parent's author
  const deeper = await reply(g!, p, replied)
  await net.processAll()

  const body = await list(me!)
  expect(summary(body)).toEqual([
    ['reply', g!.did, deeper.uri],
    ['quote', f!.did, quoted.uri],
    ['mention', e!.did, mentioned.uri],
    ['reply', d!.did, replied.uri],
    ['follow', c!.did, followed.uri],
    ['repost', b!.did, reposted.uri],
    ['like', a!.did, liked.uri],
  ])
  expect(body.cursor).toBeUndefined()
  expect(body.seenAt).toBeUndefined()
  const byReason = (reason: string, uri: string) => body.notifications.find((x: any) => x.reason === reason && x.uri === uri)
  expect(byReason('like', liked.uri)).toMatchObject({ cid: liked.cid, reasonSubject: p.uri, isRead: false, record: { $type: 'app.bsky.feed.like', subject: p } })
  expect(byReason('repost', reposted.uri)).toMatchObject({ reasonSubject: p.uri, record: { $type: 'app.bsky.feed.repost' } })
  expect(byReason('follow', followed.uri).reasonSubject).toBeUndefined()
  expect(byReason('follow', followed.uri).record).toMatchObject({ $type: 'app.bsky.graph.follow', subject: me!.did })
  expect(byReason('reply', replied.uri)).toMatchObject({ reasonSubject: p.uri, record: { text: 'a reply' } })
  expect(byReason('reply', deeper.uri).reasonSubject).toBe(p.uri)
  expect(byReason('mention', mentioned.uri).reasonSubject).toBeUndefined()
  expect(byReason('quote', quoted.uri)).toMatchObject({ reasonSubject: p.uri, author: { did: f!.did, handle: f!.handle } })
  for (const x of body.notifications) expect(Date.parse(x.indexedAt)).toBeGreaterThan(0)

  const forD = await list(d!)
  expect(summary(forD)).toEqual([['reply', g!.did, deeper.uri]])
  expect(forD.notifications[0].reasonSubject).toBe(replied.uri)

  expect(summary(await list(me!, { reasons: ['like', 'follow'] }))).toEqual([
    ['follow', c!.did, followed.uri],
    ['like', a!.did, liked.uri],
  ])
  expect(summary(await list(me!, { reasons: ['reply'] })).map((s) => s[2])).toEqual([deeper.uri, replied.uri])
  expect((await list(me!, { reasons: ['verified'] })).notifications).toEqual([])

  for (const limit of [1, 2, 3, 7]) {
    const seenUris: string[] = []
    let cursor: string | undefined
    do {
      const page = await list(me!, { limit, ...(cursor ? { cursor } : {}) })
      expect(page.notifications.length).toBeLessThanOrEqual(limit)
      seenUris.push(...page.notifications.map((x: any) => x.uri))
      cursor = page.cursor
    } while (cursor)
    expect(seenUris).toEqual(body.notifications.map((x: any) => x.uri))
  }

  // a notification arriving between pages is neither repeated nor skipped into the older pages
  const first = await list(me!, { limit: 3 })
  const late = await like(c!, p)
  await net.processAll()
  const rest = await list(me!, { limit: 10, cursor: first.cursor })
  expect([...first.notifications, ...rest.notifications].map((x: any) => x.uri)).toEqual(body.notifications.map((x: any) => x.uri))
  expect((await list(me!, { limit: 1 })).notifications[0].uri).toBe(late.uri)

  const bad: Record<string, string | number>[] = [{ cursor: 'nonsense' }, { cursor: '1700000000000::at://x' }, { cursor: '1700000000000::-1' }, { limit: 0 }]
  for (const params of bad) {
    const res = await appviewGet(net, me!, 'app.bsky.notification.listNotifications', params)
    expect([res.status, res.body.error]).toEqual([400, 'InvalidRequest'])
  }
  expect((await appviewGet(net, null, 'app.bsky.notification.listNotifications')).status).toBe(401)
})

test('unread counts and isRead before and after updateSeen', async () => {
  const [me, a, b, c] = await users('ume', 'ua', 'ub', 'uc')
  const p = await post(me!, 'post')
  await like(a!, p)
  await follow(b!, me!)
  await net.processAll()

  expect(await unread(me!)).toBe(2)
  expect((await list(me!)).notifications.map((x: any) => x.isRead)).toEqual([false, false])

  const seenAt = new Date().toISOString()
  await seen(me!, seenAt)
  expect(await unread(me!)).toBe(0)
  const afterSeen = await list(me!)
  expect(afterSeen.seenAt).toBe(seenAt)
  expect(afterSeen.notifications.map((x: any) => x.isRead)).toEqual([true, true])

  await new Promise((r) => setTimeout(r, 5))
  await like(c!, p)
  await net.processAll()
  expect(await unread(me!)).toBe(1)
  expect((await list(me!)).notifications.map((x: any) => [x.author.did, x.isRead])).toEqual([
    [c!.did, false],
    [b!.did, true],
    [a!.did, true],
  ])

  // any lexicon datetime form; seen time may move back (as the reference)
  await seen(me!, '2000-01-01T00:00:00+00:00')
  expect(await unread(me!)).toBe(3)
  expect((await list(me!)).seenAt).toBe('2000-01-01T00:00:00.000Z')
  await seen(me!, new Date(Date.now() + 1000).toISOString())
  expect(await unread(me!)).toBe(0)

  expect((await appviewPost(net, null, 'app.bsky.notification.updateSeen', { seenAt })).status).toBe(401)
  expect((await appviewPost(net, me!, 'app.bsky.notification.updateSeen', { seenAt: 'yesterday' })).status).toBe(400)
  expect((await appviewGet(net, me!, 'app.bsky.notification.getUnreadCount', { seenAt })).status).toBe(400)
  expect((await appviewGet(net, me!, 'app.bsky.notification.listNotifications', { seenAt })).status).toBe(400)
  expect((await appviewGet(net, null, 'app.bsky.notification.getUnreadCount')).status).toBe(401)
})

test('a deleted like, follow or reply takes its notification with it; so does a deleted subject', async () => {
  const [me, a, b, c, d] = await users('xme', 'xa', 'xb', 'xc', 'xd')
  const p = await post(me!, 'to be deleted')
  const q = await post(me!, 'stays')
  const l = await like(a!, p)
  const fo = await follow(b!, me!)
  const r = await reply(c!, q, q)
  await like(d!, p)
  await reply(d!, p, p)
  await like(d!, q)
  await net.processAll()
  expect(await unread(me!)).toBe(6)

  await remove(a!, l.uri)
  await net.processAll()
  expect(await unread(me!)).toBe(5)
  expect((await list(me!)).notifications.map((x: any) => x.uri)).not.toContain(l.uri)

  await remove(b!, fo.uri)
  await remove(c!, r.uri)
  await net.processAll()
  expect(await unread(me!)).toBe(3)

  // the liked and replied-to post goes: what was about it goes too
  await remove(me!, p.uri)
  await net.processAll()
  expect(summary(await list(me!))).toEqual([['like', d!.did, expect.stringContaining(d!.did)]])
  expect((await list(me!)).notifications[0].reasonSubject).toBe(q.uri)
  expect(await unread(me!)).toBe(1)
})

test('blocked (either way), muted, deactivated authors and replies hidden by a threadgate are not notified', async () => {
  const [me, blocked, blocker, muted, gone, hidden, ok] = await users('hme', 'hblocked', 'hblocker', 'hmuted', 'hgone', 'hhidden', 'hok')
  const p = await post(me!, 'post')
  for (const u of [blocked!, blocker!, muted!, gone!, ok!]) await like(u, p)
  const hiddenReply = await reply(hidden!, p, p)
  const okReply = await reply(ok!, p, p)
  await net.processAll()
  expect(await unread(me!)).toBe(7)

  await create(me!, 'app.bsky.graph.block', { subject: blocked!.did })
  await create(blocker!, 'app.bsky.graph.block', { subject: me!.did })
  expect((await appviewPost(net, me!, 'app.bsky.graph.muteActor', { actor: muted!.did })).status).toBe(200)
  await gone!.agent.com.atproto.server.deactivateAccount({})
  await create(me!, 'app.bsky.feed.threadgate', { post: p.uri, hiddenReplies: [hiddenReply.uri] }, p.uri.split('/').pop())
  await net.processAll()

  const body = await list(me!)
  expect(summary(body)).toEqual([
    ['reply', ok!.did, okReply.uri],
    ['like', ok!.did, expect.stringContaining(ok!.did)],
  ])
  // the count leaves out the same authors; a reply hidden by the viewer's threadgate is still counted
  // (hiddenReplies lives in the threadgate record, which the count query does not read)
  expect(await unread(me!)).toBe(3)
  const page = await list(me!, { limit: 1 })
  expect(page.notifications).toHaveLength(1)
  expect(page.cursor).toBeDefined()

  await gone!.agent.com.atproto.server.activateAccount()
  expect((await appviewPost(net, me!, 'app.bsky.graph.unmuteActor', { actor: muted!.did })).status).toBe(200)
  await net.processAll()
  expect(summary(await list(me!)).map((s) => s[1])).toEqual([ok!.did, ok!.did, gone!.did, muted!.did])
})

test('a reply indexed right after its parent, from another account, notifies the parent’s author: 10 times out of 10', async () => {
  const [me] = await users('rme')
  const expected: { parent: string; reply: string }[] = []
  for (let i = 0; i < 10; i++) {
    const [other] = await users(`rother${i}x`)
    const parent = await post(me!, `parent ${i}`)
    const r = await reply(other!, parent, parent, `reply ${i}`)
    expected.push({ parent: parent.uri, reply: r.uri })
  }
  await net.processAll()
  const body = await list(me!, { reasons: ['reply'], limit: 100 })
  expect(body.notifications.map((x: any) => [x.uri, x.reasonSubject])).toEqual(expected.reverse().map((e) => [e.reply, e.parent]))
  expect(await unread(me!)).toBe(10)
})

test('query plan: a listNotifications page walks notification_recipient_idx in order (no scan, no temp sort)', async () => {
  const [me] = await users('qme')
  await net.processAll()
  const db = net.appview.ctx.db
  const cases = [{ limit: 50 }, { limit: 50, cursor: `${Date.now()}::12345` }, { limit: 50, reasons: ['like', 'reply'] }]
  for (const opts of cases) {
    const q = notificationsPageQuery(db, didOf(me!), opts)!.compile()
    const plan = db.sqlite
      .prepare(`EXPLAIN QUERY PLAN ${q.sql}`)
      .all(...q.parameters)
      .map((r: any) => String(r.detail))
    expect(plan[0]).toMatch(/^SEARCH notification USING INDEX notification_recipient_idx \(recipient=\?/)
    expect(plan.join('\n')).not.toMatch(/\bSCAN\b|TEMP B-TREE/)
  }
})
