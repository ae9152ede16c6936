/**
 * Two PDS hosts feeding one relay; one host is killed and restarted on the
 * same port and data directory, and the relay picks it up again by itself
 * (retries never stop) — no new requestCrawl.
 */
import path from 'node:path'
import { AtpAgent } from '@atproto/api'
import type { PDS } from '@atsuite/pds'
import { TestNetwork, startTestPds, testSecrets, waitForHostCursor, waitForHostStatus } from '@atsuite/dev-env'
import { consume, pdsHostname, requestCrawl, xrpcGet } from './_net.ts'
import { seqDefect, sleep } from './_stream.ts'

let net: TestNetwork
let pds2: PDS | undefined
const secrets2 = testSecrets()
const dir2 = () => path.join(net.dir, 'pds2')

const post = (agent: AtpAgent, text: string) => agent.post({ text, createdAt: new Date().toISOString() })

const createUser = async (pds: PDS, name: string) => {
  const agent = new AtpAgent({ service: pds.url })
  await agent.createAccount({ handle: `${name}.test`, email: `${name}@example.com`, password: 'hunter2-password' })
  return { agent, did: agent.session!.did, handle: `${name}.test` }
}

beforeAll(async () => {
  // the network's relay crawls its PDS; the second host is crawled here, before anything is written to it
  net = await TestNetwork.create()
  pds2 = await startTestPds(net.plc.url, dir2(), {}, secrets2)
  expect((await requestCrawl(net.relay, pdsHostname(pds2))).status).toBe(200)
  expect(net.relay.ctx.hosts.status(pdsHostname(pds2))?.status).toBe('active')
})

afterAll(async () => {
  await pds2?.destroy()
  await net?.close()
})

test('both hosts feed one stream; a host killed and restarted on the same port is picked up again without requestCrawl', async () => {
  const relay = net.relay
  const one = await net.createUser('hostone')
  const two = await createUser(pds2!, 'hosttwo')
  const consumer = await consume(relay, 0)
  try {
    const p1 = await post(one.agent, 'from host one')
    const p2 = await post(two.agent, 'from host two')
    await consumer.waitUntil((c) => c.recordCids(one.did).includes(p1.cid) && c.recordCids(two.did).includes(p2.cid), 15_000, 'a write from each host')

    const host2 = pdsHostname(pds2!)
    const port2 = pds2!.port
    await waitForHostCursor(relay, host2, pds2!.ctx.sequencer.currentSeq)
    const relayedBefore = relay.ctx.hosts.status(host2)!.eventsRelayed
    await pds2!.destroy()
    pds2 = undefined

    // host one keeps flowing while host two is down
    const during = await post(one.agent, 'host two is down')
    await consumer.waitUntil((c) => c.recordCids(one.did).includes(during.cid), 15_000, 'host one while host two is down')
    // the relay notices, and fails a few reconnects while the host stays down (backoff is capped at 500 ms here)
    await waitForHostStatus(relay, host2, 'offline')
    await sleep(1_500)

    pds2 = await startTestPds(net.plc.url, dir2(), { PDS_PORT: String(port2) }, secrets2)
    expect(pdsHostname(pds2)).toBe(host2)
    const fresh = new AtpAgent({ service: pds2.url })
    await fresh.login({ identifier: two.handle, password: 'hunter2-password' })
    const afterRestart: string[] = []
    for (let i = 0; i < 3; i++) afterRestart.push((await post(fresh, `host two is back ${i}`)).cid)

    await waitForHostCursor(relay, host2, pds2.ctx.sequencer.currentSeq, 20_000)
    await consumer.waitUntil((c) => c.lastSeq >= relay.ctx.eventLog.currentSeq, 10_000, 'everything the relay has')
    expect(c2Order(consumer.recordCids(two.did), afterRestart)).toBe(true)
    expect(seqDefect(consumer.seqs, 0)).toBeNull()
    const commits = consumer.events.filter((f) => f.type === '#commit').map((f) => String(f.body.commit))
    expect(commits.length).toBe(new Set(commits).size)

    const status = relay.ctx.hosts.status(host2)
    expect(status).toMatchObject({ hostname: host2, status: 'active' })
    expect(status!.eventsRelayed).toBeGreaterThanOrEqual(relayedBefore + afterRestart.length)
    const listed = await xrpcGet(relay.url, 'com.atproto.sync.getHostStatus', { hostname: host2 })
    expect(listed.body).toMatchObject({ hostname: host2, status: 'active' })
  } finally {
    consumer.close()
  }
})

/** `subset` appears in `all` in the same relative order. */
const c2Order = (all: string[], subset: string[]): boolean => {
  const idx = subset.map((s) => all.indexOf(s))
  return idx.every((v, i) => v >= 0 && (i === 0 || v > idx[i - 1]))
}
