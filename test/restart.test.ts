/**
 * Each service restarted mid-stream, with a verifying Firehose consumer on
 * the relay: the PDS (same data, same port) while the consumer stays
 * connected; the relay, with the consumer reconnecting from its last
 * cursor; the PLC directory, after which identity lookups still work.
 */
import { TestNetwork, type TestFirehose, type TestUser } from '@atsuite/dev-env'
import { describeWrite, orderDefect, post, relayConsumer, writesOf, type Written } from './_util.ts'

let net: TestNetwork
let alice: TestUser
const consumers: TestFirehose[] = []

const consumer = (cursor: number): TestFirehose => {
  const c = relayConsumer(net, cursor)
  consumers.push(c)
  return c
}

const posts = async (n: number, label: string): Promise<Written[]> => {
  const out: Written[] = []
  for (let i = 0; i < n; i++) out.push(await post(alice.agent, `${label} ${i}`))
  return out
}

const creates = (written: Written[]): string[] => written.map((w) => `create ${w.uri}`)

beforeAll(async () => {
  net = await TestNetwork.create()
  alice = await net.createUser('alice')
})

afterAll(async () => {
  for (const c of consumers) await c.destroy()
  await net?.close()
})

test('PDS restarted under a connected consumer: writes before and after arrive once, in order', async () => {
  const c = consumer(await net.processAll())
  const connectsBefore = net.relay.ctx.hosts.status(net.pdsHostname)!.connects
  const before = await posts(3, 'before the PDS restart')
  await c.waitForSeq(await net.processAll())

  await net.restart('pds')
  // the same agent: same port, and the session survives (same data and secrets)
  const after = await posts(3, 'after the PDS restart')
  await c.waitForSeq(await net.processAll())

  expect(c.errors).toEqual([])
  expect(orderDefect(c.events)).toBeNull()
  expect(writesOf(c.events, alice.did).map(describeWrite)).toEqual(creates([...before, ...after]))
  expect(writesOf(c.events, alice.did).map((e) => (e.event === 'create' ? e.cid.toString() : null))).toEqual([...before, ...after].map((w) => w.cid))
  // the relay reconnected by itself, from its cursor: nothing dropped, nothing relayed twice
  const status = net.relay.ctx.hosts.status(net.pdsHostname)!
  expect(status.connects).toBe(connectsBefore + 1)
  expect(Object.values(status.dropped).reduce((s, n) => s + n, 0)).toBe(0)
})

test('relay restarted: a consumer resuming from its last cursor gets everything after it exactly once', async () => {
  const c = consumer(await net.processAll())
  const before = await posts(2, 'before the relay restart')
  await c.waitForSeq(await net.processAll())
  const cursor = c.cursor!

  let whileDown: Written[] = []
  await net.restart('relay', async () => {
    whileDown = await posts(3, 'while the relay is down')
    await alice.agent.com.atproto.identity.updateHandle({ handle: 'alice-renamed.test' })
  })
  const after = await posts(2, 'after the relay restart')
  const head = await net.processAll()
  // this consumer was cut off by the restart and reconnected by itself with its cursor
  await c.waitForSeq(head)
  // and a fresh one given the cursor the first had before the restart
  const resumed = consumer(cursor)
  await resumed.waitForSeq(head)

  for (const x of [c, resumed]) {
    expect(x.errors).toEqual([])
    expect(orderDefect(x.events)).toBeNull()
  }
  expect(writesOf(c.events, alice.did).map(describeWrite)).toEqual(creates([...before, ...whileDown, ...after]))
  const afterCursor = c.events.filter((e) => e.seq > cursor)
  expect(resumed.events.map((e) => `${e.seq} ${e.event}`)).toEqual(afterCursor.map((e) => `${e.seq} ${e.event}`))
  expect(writesOf(resumed.events, alice.did).map(describeWrite)).toEqual(creates([...whileDown, ...after]))
  // the handle change made while the relay was down went out once
  const identities = resumed.events.filter((e) => e.event === 'identity' && e.did === alice.did)
  expect(identities).toHaveLength(1)
})

test('PLC restarted: a new account and a handle change are resolved and relayed afterwards', async () => {
  const c = consumer(await net.processAll())
  await net.restart('plc')

  const carol = await net.createUser('carol')
  const hello = await post(carol.agent, 'carol after the PLC restart')
  await alice.agent.com.atproto.identity.updateHandle({ handle: 'alice-after-plc.test' })
  await c.waitForSeq(await net.processAll())

  expect(c.errors).toEqual([])
  // carol's DID was registered at the restarted directory and resolved from it by the relay and the consumer
  expect(c.events.filter((e) => e.did === carol.did).map((e) => e.event)).toEqual(['identity', 'account', 'sync', 'create'])
  expect(writesOf(c.events, carol.did).map(describeWrite)).toEqual([`create ${hello.uri}`])
  const identity = c.events.find((e) => e.event === 'identity' && e.did === alice.did)
  expect(identity?.event === 'identity' && identity.didDocument?.alsoKnownAs).toEqual(['at://alice-after-plc.test'])
  const doc = await fetch(`${net.plc.url}/${carol.did}`)
  expect(doc.status).toBe(200)
  const status = await fetch(`${net.relay.url}/xrpc/com.atproto.sync.getRepoStatus?did=${carol.did}`)
  expect(await status.json()).toMatchObject({ did: carol.did, active: true })
})
