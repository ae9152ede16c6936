/**
 * The relay against a real PDS: a multi-account scenario consumed through the
 * relay by `@atproto/sync`'s verifying Firehose, cursor replay across a
 * consumer reconnect and across a relay restart, ConsumerTooSlow, and the
 * sync read endpoints.
 */
import { TestFirehose, TestNetwork, relayAdminHeaders } from '@atsuite/dev-env'
import type { Event } from '@atproto/sync'
import { consume, xrpcGet } from './_net.ts'
import { seqDefect } from './_stream.ts'

const POST = 'app.bsky.feed.post'
type User = Awaited<ReturnType<TestNetwork['createUser']>>

let net: TestNetwork
let host: string

const write = async (u: User, text: string) => u.agent.post({ text, createdAt: new Date().toISOString() })
const rkeyOf = (uri: string) => uri.split('/').pop()!

beforeAll(async () => {
  // the network's relay has crawled the PDS before anything is written
  net = await TestNetwork.create({ relay: { overrides: { maxBufferBytes: 200_000 } } })
  host = net.pdsHostname
})

afterAll(async () => {
  await net?.close()
})

test('a verifying Firehose on the relay stream gets every write once, in rev order, and identity/account/sync events', async () => {
  const users: User[] = []
  for (const n of ['rla', 'rlb', 'rlc']) users.push(await net.createUser(n))
  const [a, b, c] = users
  const expected = new Map<string, string>() // "action uri" -> cid ('' for deletes)
  const firstUri = new Map<string, string>()
  for (let i = 0; i < 4; i++) {
    for (const u of users) {
      const res = await write(u, `post ${i} by ${u.handle}`)
      expected.set(`create ${res.uri}`, res.cid)
      if (!firstUri.has(u.did)) firstUri.set(u.did, res.uri)
    }
  }
  const aFirst = firstUri.get(a.did)!
  const put = await a.agent.com.atproto.repo.putRecord({
    repo: a.did,
    collection: POST,
    rkey: rkeyOf(aFirst),
    record: { $type: POST, text: 'edited', createdAt: new Date().toISOString() },
  })
  expected.set(`update ${aFirst}`, put.data.cid)
  const bFirst = firstUri.get(b.did)!
  await b.agent.com.atproto.repo.deleteRecord({ repo: b.did, collection: POST, rkey: rkeyOf(bFirst) })
  expected.set(`delete ${bFirst}`, '')
  const profile = await c.agent.com.atproto.repo.putRecord({
    repo: c.did,
    collection: 'app.bsky.actor.profile',
    rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', displayName: 'C' },
  })
  expected.set(`create at://${c.did}/app.bsky.actor.profile/self`, profile.data.cid)

  await a.agent.com.atproto.identity.updateHandle({ handle: 'rla-renamed.test' })
  await b.agent.com.atproto.server.deactivateAccount({})
  await b.agent.com.atproto.server.activateAccount()
  const last = await write(b, 'after reactivation')
  expected.set(`create ${last.uri}`, last.cid)

  const dids = new Set(users.map((u) => u.did))
  // verifying consumer from the start of the relay's log, up to everything the relay has of the PDS's:
  // once it has processed that seq, nothing more can follow
  const firehose = new TestFirehose({ service: net.relay.url, plcUrl: net.plc.url, cursor: 0 })
  try {
    await firehose.waitForSeq(await net.processAll(), 20_000)
  } finally {
    await firehose.destroy()
  }
  const seen = firehose.events.filter((evt) => dids.has(evt.did))
  const errors = firehose.errors
  const writes = () => seen.filter((e) => e.event === 'create' || e.event === 'update' || e.event === 'delete')
  const accountsOf = (did: string) => seen.filter((e) => e.event === 'account' && e.did === did) as Extract<Event, { event: 'account' }>[]
  expect(errors.map((e) => `${e.message} ${String(e.cause ?? '')}`)).toEqual([])
  // a renamed: its creation and the handle change
  expect(seen.filter((e) => e.event === 'identity' && e.did === a.did)).toHaveLength(2)

  const keys = writes().map((e) => `${e.event} ${(e as { uri: { toString(): string } }).uri.toString()}`)
  expect(keys.length).toBe(new Set(keys).size) // each once
  expect(new Set(keys)).toEqual(new Set(expected.keys()))
  for (const e of writes()) {
    if (e.event !== 'delete') expect(e.cid.toString()).toBe(expected.get(`${e.event} ${e.uri.toString()}`))
  }
  for (const u of users) {
    const revs = writes()
      .filter((e) => e.did === u.did)
      .map((e) => e.rev)
    expect(revs).toEqual([...revs].sort())
    const kinds = new Set(seen.filter((e) => e.did === u.did).map((e) => e.event))
    for (const k of ['identity', 'account', 'sync']) expect({ did: u.did, has: k, ok: kinds.has(k as Event['event']) }).toEqual({ did: u.did, has: k, ok: true })
  }
  // deactivation and reactivation of b, in order
  expect(accountsOf(b.did).map((e) => [e.active, e.status ?? null])).toEqual([
    [true, null],
    [false, 'deactivated'],
    [true, null],
  ])
  // #sync on creation and on reactivation
  expect(seen.filter((e) => e.event === 'sync' && e.did === b.did).length).toBe(2)

  // the handle change as it went out on the relay's own stream
  const raw = await consume(net.relay, 0)
  try {
    await raw.waitUntil((r) => r.lastSeq >= net.relay.ctx.eventLog.currentSeq, 10_000, 'a full replay')
    const identities = raw.of('#identity', a.did)
    expect(identities.length).toBe(2)
    expect([undefined, 'rla-renamed.test']).toContain(identities[1].body.handle)
    expect(seqDefect(raw.seqs, 0)).toBeNull()
  } finally {
    raw.close()
  }
})

test('cursor replay across a consumer reconnect: no gap, no duplicate past the cursor', async () => {
  const d = await net.createUser('rld')
  const firstBatch: string[] = []
  for (let i = 0; i < 5; i++) firstBatch.push((await write(d, `first ${i}`)).cid)

  const c1 = await consume(net.relay, 0)
  await c1.waitUntil((c) => c.commitCids(d.did).length >= 2, 10_000, 'two commits of d')
  c1.close()
  const cursor = c1.lastSeq
  expect(seqDefect(c1.seqs, 0)).toBeNull()

  const secondBatch: string[] = []
  for (let i = 0; i < 5; i++) secondBatch.push((await write(d, `second ${i}`)).cid)

  const c2 = await consume(net.relay, cursor)
  try {
    await c2.waitUntil((c) => secondBatch.every((cid) => c.recordCids(d.did).includes(cid)), 10_000, 'second batch')
    // live after the replay, on the same connection
    const live = await write(d, 'live')
    await c2.waitUntil((c) => c.recordCids(d.did).includes(live.cid), 10_000, 'the live write')
    expect(seqDefect(c2.seqs, cursor)).toBeNull()
    expect(c2.seqs[0]).toBe(cursor + 1)
    expect(c2.lastSeq).toBe(net.relay.ctx.eventLog.currentSeq)
    // every commit of d exactly once across the two connections (the genesis commit too), every write in order
    const commits = [...c1.commitCids(d.did), ...c2.commitCids(d.did)]
    expect(commits.length).toBe(new Set(commits).size)
    expect([...c1.recordCids(d.did), ...c2.recordCids(d.did)]).toEqual([...firstBatch, ...secondBatch, live.cid])
  } finally {
    c2.close()
  }
})

test('relay restart: a consumer resuming with its cursor misses nothing written while the relay was down', async () => {
  const e = await net.createUser('rle')
  const before = await write(e, 'before the restart')
  await net.processAll()
  expect((await xrpcGet(net.relay.url, 'com.atproto.sync.getLatestCommit', { did: e.did })).body?.rev).toBeDefined()
  const c1 = await consume(net.relay, 0)
  await c1.waitUntil((c) => c.lastSeq >= net.relay.ctx.eventLog.currentSeq && c.recordCids(e.did).includes(before.cid), 10_000, 'everything so far')
  c1.close()
  const cursor = c1.lastSeq
  const seenBefore = new Set(c1.events.filter((f) => f.type === '#commit').map((f) => String(f.body.commit)))

  const whileDown: string[] = []
  // same port and data directory; no requestCrawl: the relay resumes the PDS from its saved cursor
  await net.restart('relay', async () => {
    for (let i = 0; i < 3; i++) whileDown.push((await write(e, `while the relay is down ${i}`)).cid)
    await e.agent.com.atproto.identity.updateHandle({ handle: 'rle-renamed.test' })
  })
  expect(net.relay.ctx.eventLog.currentSeq).toBeGreaterThanOrEqual(cursor)
  const c2 = await consume(net.relay, cursor)
  try {
    await c2.waitUntil((c) => whileDown.every((cid) => c.recordCids(e.did).includes(cid)) && c.of('#identity', e.did).length >= 1, 20_000, 'the writes made while down')
    const after = await write(e, 'after the restart')
    await c2.waitUntil((c) => c.recordCids(e.did).includes(after.cid), 10_000, 'a write after the restart')
    expect(seqDefect(c2.seqs, cursor)).toBeNull()
    const commits = c2.events.filter((f) => f.type === '#commit').map((f) => String(f.body.commit))
    expect(commits.length).toBe(new Set(commits).size)
    // the upstream cursor resumed where it was: nothing from before the restart is relayed again
    expect(commits.filter((cid) => seenBefore.has(cid))).toEqual([])
    expect(c2.recordCids(e.did)).toEqual([...whileDown, after.cid])
  } finally {
    c2.close()
  }
})

test('a slow consumer gets ConsumerTooSlow while a fast one keeps receiving', async () => {
  const u = await net.createUser('rlslow')
  await write(u, 'hello')
  const slow = await consume(net.relay)
  slow.pause()
  const fast = await consume(net.relay)
  const N = 60
  const big = 'x'.repeat(90_000)
  try {
    for (let i = 0; i < N; i++) {
      await u.agent.com.atproto.repo.createRecord({ repo: u.did, collection: 'com.example.blob', record: { big, i } })
    }
    await fast.waitUntil((c) => c.of('#commit', u.did).length >= N, 30_000, `${N} big commits on the fast consumer`)
    slow.resume()
    await slow.waitClosed(15_000)
    const lastFrame = slow.frames[slow.frames.length - 1]
    expect(lastFrame.op).toBe(-1)
    expect(lastFrame.error).toBe('ConsumerTooSlow')
    expect(slow.of('#commit', u.did).length).toBeLessThan(N)
    // the fast one is untouched and still live
    expect(fast.closed).toBe(false)
    const after = await write(u, 'still flowing')
    await fast.waitUntil((c) => c.recordCids(u.did).includes(after.cid), 10_000, 'a later write on the fast consumer')
    expect(seqDefect(fast.seqs)).toBeNull()
  } finally {
    slow.close()
    fast.close()
  }
})

test('getLatestCommit, getRepoStatus, listRepos follow the PDS; getRepo redirects to it; host endpoints', async () => {
  const q = await net.createUser('rlq')
  await write(q, 'one')
  await write(q, 'two')
  const pdsHead = (await xrpcGet(net.pds.url, 'com.atproto.sync.getLatestCommit', { did: q.did })).body as { cid: string; rev: string }
  await net.processAll()
  expect((await xrpcGet(net.relay.url, 'com.atproto.sync.getLatestCommit', { did: q.did })).body).toEqual(pdsHead)
  expect((await xrpcGet(net.relay.url, 'com.atproto.sync.getRepoStatus', { did: q.did })).body).toMatchObject({ did: q.did, active: true, rev: pdsHead.rev })

  await q.agent.com.atproto.server.deactivateAccount({})
  await net.processAll()
  expect((await xrpcGet(net.relay.url, 'com.atproto.sync.getRepoStatus', { did: q.did })).body).toMatchObject({ did: q.did, active: false, status: 'deactivated' })
  await q.agent.com.atproto.server.activateAccount()
  await net.processAll()
  expect((await xrpcGet(net.relay.url, 'com.atproto.sync.getRepoStatus', { did: q.did })).body).toMatchObject({ did: q.did, active: true })

  // listRepos, every page: each account of the PDS with the PDS's head
  const pdsRepos = new Map<string, string>()
  for (const r of ((await xrpcGet(net.pds.url, 'com.atproto.sync.listRepos', { limit: '1000' })).body as { repos: { did: string; head: string }[] }).repos) {
    pdsRepos.set(r.did, r.head)
  }
  const relayRepos = new Map<string, string>()
  let cursor: string | undefined
  for (let page = 0; page < 100; page++) {
    const res = await xrpcGet(net.relay.url, 'com.atproto.sync.listRepos', { limit: '3', ...(cursor ? { cursor } : {}) })
    expect(res.status).toBe(200)
    for (const r of res.body.repos as { did: string; head: string }[]) {
      expect(relayRepos.has(r.did)).toBe(false)
      relayRepos.set(r.did, r.head)
    }
    cursor = res.body.cursor
    if (!cursor) break
  }
  expect(relayRepos).toEqual(pdsRepos)

  const redirect = await fetch(`${net.relay.url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(q.did)}`, { redirect: 'manual' })
  expect(redirect.status).toBe(302)
  const location = new URL(redirect.headers.get('location') ?? '')
  expect(location.origin).toBe(new URL(net.pds.url).origin)
  expect(location.pathname).toBe('/xrpc/com.atproto.sync.getRepo')
  expect(location.searchParams.get('did')).toBe(q.did)
  const followed = await fetch(location)
  expect(followed.status).toBe(200)

  const missing = await xrpcGet(net.relay.url, 'com.atproto.sync.getLatestCommit', { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' })
  expect(missing.status).toBe(400)
  expect(missing.body.error).toBe('RepoNotFound')
  expect((await xrpcGet(net.relay.url, 'com.atproto.sync.getRepoStatus', {})).status).toBe(400)

  const hosts = await xrpcGet(net.relay.url, 'com.atproto.sync.listHosts')
  expect(hosts.status).toBe(200)
  expect(hosts.body.hosts).toEqual(expect.arrayContaining([expect.objectContaining({ hostname: host, status: 'active' })]))
  const hs = await xrpcGet(net.relay.url, 'com.atproto.sync.getHostStatus', { hostname: host })
  expect(hs.body).toMatchObject({ hostname: host, status: 'active' })
  expect(hs.body.accountCount).toBe(pdsRepos.size)

  expect((await fetch(`${net.relay.url}/admin/hosts`)).status).toBe(401)
  expect((await fetch(`${net.relay.url}/admin/hosts`, { headers: relayAdminHeaders('wrong') })).status).toBe(401)
  const admin = await fetch(`${net.relay.url}/admin/hosts`, { headers: net.relayAdminHeaders() })
  expect(admin.status).toBe(200)
  expect(JSON.stringify(await admin.json())).toContain(host)

  // an honest PDS has nothing dropped
  const status = await net.relay.ctx.hosts.status(host)
  expect(status).toMatchObject({ hostname: host, status: 'active', accountCount: pdsRepos.size })
  expect(status!.eventsRelayed).toBeGreaterThan(0)
  expect(Object.values(status!.dropped).reduce((s: number, n) => s + (n as number), 0)).toBe(0)
})
