/**
 * Smoke test of the relay on its own: a TestNetwork whose relay verifies on
 * the main thread (verifyThreads 0, the path the other suites do not take)
 * and is left to the test to crawl the PDS; requestCrawl, then writes read
 * back through the relay with @atproto/sync's verifying Firehose — every
 * write once.
 */
import { TestFirehose, TestNetwork } from '@atsuite/dev-env'

let net: TestNetwork

beforeAll(async () => {
  net = await TestNetwork.create({ relay: { env: { RELAY_VERIFY_THREADS: '0', RELAY_ADMIN_PASSWORD: 'smoke' }, crawl: false } })
})

afterAll(async () => {
  await net?.close()
})

test('requestCrawl, then every write arrives once through the relay, verified', async () => {
  const relay = net.relay
  expect(relay.ctx.cfg.verifyThreads).toBe(0)
  const bad = await fetch(`${relay.url}/xrpc/com.atproto.sync.requestCrawl`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hostname: 'localhost:1' }),
  })
  expect(bad.status).toBe(400)
  expect(((await bad.json()) as { message: string }).message).toMatch(/unreachable/)

  const host = `localhost:${net.pds.port}`
  expect(relay.ctx.hosts.status(host)).toBeUndefined()
  const res = await fetch(`${relay.url}/xrpc/com.atproto.sync.requestCrawl`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hostname: `http://localhost:${net.pds.port}/` }),
  })
  expect(res.status).toBe(200)
  expect(relay.ctx.hosts.status(host)?.status).toBe('active')

  const users = await Promise.all(['smka', 'smkb'].map((n) => net.createUser(n)))
  const expected = new Set<string>()
  for (let i = 0; i < 3; i++) {
    for (const u of users) expected.add((await u.agent.post({ text: `smoke ${i}`, createdAt: new Date().toISOString() })).uri)
  }

  const firehose = new TestFirehose({ service: relay.url, plcUrl: net.plc.url, cursor: 0 })
  try {
    // everything the relay has of the PDS, and not an event more can follow
    await firehose.waitForSeq(await net.processAll(), 15_000)
  } finally {
    await firehose.destroy()
  }
  expect(firehose.errors).toEqual([])
  const got = firehose.events.filter((e) => e.event === 'create').map((e) => e.uri.toString())
  expect(got.length).toBe(new Set(got).size)
  expect(new Set(got)).toEqual(expected)
  const status = relay.ctx.hosts.status(host)!
  expect(Object.values(status.dropped).every((n) => n === 0)).toBe(true)
  expect(status.accountCount).toBe(2)
})
