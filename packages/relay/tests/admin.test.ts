/**
 * The relay's admin surface against a fake host: Basic auth, ban / unban
 * (a banned host is disconnected and refused; unbanned, it resumes from its
 * cursor), and per-host rate limits that slow a host down without dropping.
 */
import type { RelayServer } from '@atsuite/relay'
import { relayAdminHeaders as adminHeaders, type FakeAccount, type FakePds, POST, post } from '@atsuite/dev-env'
import { consume, fakeHostRelay, requestCrawl, xrpcGet, type FakeHostRelay } from './_net.ts'
import { sleep } from './_stream.ts'

let fake: FakePds
let relay: RelayServer
let alice: FakeAccount
let n = 0

const admin = (route: string, body: unknown, headers: Record<string, string> = adminHeaders()) =>
  fetch(`${relay.url}/admin/hosts/${route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

/** One honest commit of alice, emitted by the fake host; returns its CID. */
const commit = async (): Promise<string> => {
  const c = await alice.commit([{ action: 'create', collection: POST, rkey: `r${n++}`, record: post(`n ${n}`) }])
  fake.emit('#commit', c.body)
  return c.cid.toString()
}

let net: FakeHostRelay

beforeAll(async () => {
  net = await fakeHostRelay('admin')
  ;({ fake, relay, alice } = net)
})

afterAll(async () => {
  await net?.close()
})

test('admin endpoints need the admin password', async () => {
  for (const headers of [{}, adminHeaders('wrong'), { authorization: 'Bearer admin' }]) {
    expect((await fetch(`${relay.url}/admin/hosts`, { headers })).status).toBe(401)
    expect((await admin('ban', { hostname: fake.hostname }, headers as Record<string, string>)).status).toBe(401)
  }
  expect((await relay.ctx.hosts.status(fake.hostname))!.status).toBe('active')
  const res = await admin('ban', { nothing: true })
  expect(res.status).toBe(400)
})

test('a banned host is disconnected and refused; unbanned, it resumes from its cursor', async () => {
  const consumer = await consume(relay, relay.ctx.eventLog.currentSeq)
  try {
    const before = await commit()
    await consumer.waitUntil((c) => c.commitCids(alice.did).includes(before), 10_000, 'a commit before the ban')

    expect((await admin('ban', { hostname: fake.hostname })).status).toBe(200)
    expect((await relay.ctx.hosts.status(fake.hostname))!.status).toBe('banned')
    await fake.waitForNoSubscribers(10_000)
    const crawl = await requestCrawl(relay, fake.hostname)
    expect(crawl.status).toBe(400)
    expect(((await crawl.json()) as { error: string }).error).toBe('HostBanned')

    const duringBan = await commit()
    // the ban lasts a while: long enough for a reconnect attempt (backoff is capped at 500 ms here) that must not happen
    await sleep(500)
    expect(consumer.commitCids(alice.did)).not.toContain(duringBan)
    expect(fake.subscribers.length).toBe(0)

    expect((await admin('unban', { hostname: fake.hostname })).status).toBe(200)
    await fake.waitForSubscribers(1)
    const afterBan = await commit()
    await consumer.waitUntil((c) => c.commitCids(alice.did).includes(afterBan), 10_000, 'a commit after the unban')
    // the upstream cursor survived the ban: what the host sent meanwhile is replayed, once, in order
    expect(consumer.commitCids(alice.did)).toEqual([before, duringBan, afterBan])
    expect(fake.subscriptions[fake.subscriptions.length - 1]).toBeGreaterThan(0)
  } finally {
    consumer.close()
  }
})

test('a per-host rate limit slows the host down and drops nothing', async () => {
  const limited = await admin('limits', { hostname: fake.hostname, rateLimit: 10 })
  expect(limited.status).toBe(200)
  expect((await relay.ctx.hosts.status(fake.hostname))!.rateLimit).toBe(10)
  const consumer = await consume(relay, relay.ctx.eventLog.currentSeq)
  try {
    // let the bucket fill to its one second's worth
    await sleep(1_100)
    const droppedBefore = { ...(await relay.ctx.hosts.status(fake.hostname))!.dropped }
    const cids: string[] = []
    const start = Date.now()
    for (let i = 0; i < 30; i++) cids.push(await commit())
    // while the limit holds events back, the host's status says so (com.atproto.sync.getHostStatus)
    const hostStatus = async () => (await xrpcGet(relay.url, 'com.atproto.sync.getHostStatus', { hostname: fake.hostname })).body.status
    let seen = await hostStatus()
    while (seen !== 'throttled' && Date.now() - start < 1_500) seen = await hostStatus()
    expect(seen).toBe('throttled')
    await consumer.waitUntil((c) => cids.every((cid) => c.commitCids(alice.did).includes(cid)), 15_000, 'all 30 commits')
    const elapsed = Date.now() - start
    // at most one second's worth (10) at once after the idle second, then 10/s: the 30th is
    // due about 2 s after the first, whatever the bucket saw before the burst
    expect(elapsed).toBeGreaterThanOrEqual(1_500)
    expect(consumer.commitCids(alice.did)).toEqual(cids)
    expect((await relay.ctx.hosts.status(fake.hostname))!.dropped).toEqual(droppedBefore)
    // and active again once it has caught up
    await sleep(1_100)
    expect(await hostStatus()).toBe('active')
  } finally {
    consumer.close()
    expect((await admin('limits', { hostname: fake.hostname, rateLimit: 5000 })).status).toBe(200)
  }
})
