/**
 * A hostile upstream: a fake PDS speaking the protocol sends forged
 * signatures, rolled-back and far-future revs, events for DIDs it does not
 * host or that do not resolve (commits, and #account/#identity for an
 * account of another host), a commit passed off as another account's,
 * oversized frames, garbage bytes, a wrong prevData, ops that do not invert,
 * and a broken `since` chain — between honest commits. Each bad one is dropped and counted under its reason; the honest
 * events of this host and of a real PDS crawled at the same time are relayed;
 * the relay keeps serving.
 */
import { randomBytes } from 'node:crypto'
import { Secp256k1Keypair } from '@atproto/crypto'
import { encode as cborEncode } from '@atproto/lex-cbor'
import { cidForCbor } from '@atproto/lex-data'
import { TestNetwork, waitForHostCursor } from '@atsuite/dev-env'
import type { RelayServer } from '@atsuite/relay'
import { FakePds, FakeAccount, POST, post, tidAt } from '@atsuite/dev-env'
import { consume, requestCrawl, xrpcGet } from './_net.ts'
import type { Frame } from './_stream.ts'

const MAX_FRAME = 100_000
/** a message type the relay does not know: skipped (the event-stream spec), but it moves the host cursor */
const BARRIER = '#test-barrier'

let net: TestNetwork
let relay: RelayServer
let fake: FakePds
let alice: FakeAccount

/**
 * Waits until the relay has processed everything `host` sent so far. Frames
 * with no usable seq (garbage) move no cursor, so a barrier frame (an unknown
 * type, with a seq) is sent after them when `seq` is not given.
 */
const settled = async (host: FakePds, seq?: number): Promise<void> => waitForHostCursor(relay, host.hostname, seq ?? host.emit(BARRIER, {}))

beforeAll(async () => {
  net = await TestNetwork.create({ relay: { env: { RELAY_SYNC_MODE: 'strict' }, overrides: { maxFrameBytes: MAX_FRAME } } })
  relay = net.relay
  fake = await FakePds.start()
  alice = await FakeAccount.create(net.plc.url, fake.url, { handle: 'alice-fake.test' })
  fake.repos.set(alice.did, alice)
  expect((await requestCrawl(relay, fake.hostname)).status).toBe(200)
  await fake.waitForSubscribers(1)
})

afterAll(async () => {
  await fake?.close()
  await net?.close()
})

test('every bad event is dropped under its reason; honest events of both hosts are relayed; the relay keeps serving', async () => {
  const consumer = await consume(relay, relay.ctx.eventLog.currentSeq)
  const dropped = async (): Promise<Record<string, number>> => {
    const d = (await relay.ctx.hosts.status(fake.hostname))!.dropped
    return Object.fromEntries(Object.entries(d).filter(([, n]) => (n as number) > 0)) as Record<string, number>
  }
  const expected: Record<string, number> = {}
  /** sends one bad thing (`send` returns its seq, if it has one), waits until the relay has processed it, and checks it was counted under `reason` */
  const expectDrop = async (reason: string, send: () => number | void | Promise<number | void>) => {
    const before = (await dropped())[reason] ?? 0
    const seq = await send()
    expected[reason] = (expected[reason] ?? 0) + 1
    await settled(fake, typeof seq === 'number' ? seq : undefined)
    expect({ reason, dropped: (await dropped())[reason] ?? 0 }).toEqual({ reason, dropped: before + 1 })
  }
  const relayed = (cid: { toString(): string }) => consumer.waitUntil((c) => c.commitCids(alice.did).includes(cid.toString()), 10_000, `commit ${cid} relayed`)

  const real = await net.createUser('honest')
  const realCids: string[] = []
  const realWrite = async (text: string) => realCids.push((await real.agent.post({ text, createdAt: new Date().toISOString() })).cid)

  // an honest start, as a PDS announces a new account
  fake.emit('#identity', alice.identityBody())
  fake.emit('#account', alice.accountBody())
  fake.emit('#sync', await alice.syncBody())
  const v1 = await alice.commit([{ action: 'create', collection: POST, rkey: 'a1', record: post('honest one') }])
  fake.emit('#commit', v1.body)
  await relayed(v1.cid)
  await realWrite('real one')

  const bad: string[] = [] // CIDs that must never be relayed
  const side = async (opts: Parameters<FakeAccount['commit']>[1], rkey: string, text = 'bad') => {
    const c = await alice.commit([{ action: 'create', collection: POST, rkey, record: post(text) }], { ...opts, apply: false })
    bad.push(c.cid.toString())
    return c
  }

  // a commit signed by a key that is not in alice's DID document
  const forged = await side({ signer: await Secp256k1Keypair.create() }, 'forged')
  await expectDrop('bad_signature', () => fake.emit('#commit', forged.body))

  // a rev older than the last one relayed (properly signed)
  const rolledBack = await side({ rev: tidAt(Date.now() - 60 * 60 * 1000) }, 'rolledback')
  await expectDrop('rev_not_newer', () => fake.emit('#commit', rolledBack.body))

  // a rev an hour in the future (tolerance is 5 minutes)
  const future = await side({ rev: tidAt(Date.now() + 60 * 60 * 1000) }, 'future')
  await expectDrop('rev_in_future', () => fake.emit('#commit', future.body))

  // a validly signed commit of an account whose DID document names the real PDS
  const mallory = await FakeAccount.create(net.plc.url, net.pds.url, { handle: 'mallory-elsewhere.test' })
  const foreign = await mallory.commit([{ action: 'create', collection: POST, rkey: 'm1', record: post('not yours') }])
  bad.push(foreign.cid.toString())
  await expectDrop('wrong_host', () => fake.emit('#commit', foreign.body))

  // a DID that no directory knows
  const ghost = await FakeAccount.create(net.plc.url, fake.url, { register: false })
  const ghostly = await ghost.commit([{ action: 'create', collection: POST, rkey: 'g1', record: post('boo') }])
  bad.push(ghostly.cid.toString())
  await expectDrop('unresolvable_did', () => fake.emit('#commit', ghostly.body))

  // speaking for an account of the real PDS: deactivate it, rename it — refused, the account untouched
  const now = () => new Date().toISOString()
  await expectDrop('wrong_host', () => fake.emit('#account', { did: real.did, active: false, status: 'deactivated', time: now() }))
  await expectDrop('wrong_host', () => fake.emit('#identity', { did: real.did, handle: 'hijacked.test', time: now() }))
  expect((await xrpcGet(relay.url, 'com.atproto.sync.getRepoStatus', { did: real.did })).body).toMatchObject({ active: true })

  // alice's validly signed commit presented as another account's event
  const bob = await FakeAccount.create(net.plc.url, fake.url, { handle: 'bob-fake.test' })
  fake.repos.set(bob.did, bob)
  const misattributed = await side({}, 'misattributed')
  await expectDrop('bad_commit', () => fake.emit('#commit', { ...misattributed.body, repo: bob.did }))

  await realWrite('real two')

  // a frame over the relay's limit (an otherwise valid commit)
  const huge = await side({}, 'huge', 'x'.repeat(MAX_FRAME + 50_000))
  await expectDrop('too_big', () => fake.emit('#commit', huge.body, { replay: false }))

  // bytes that are not a frame at all, and a header followed by a truncated body
  await expectDrop('bad_frame', () => fake.sendRaw(randomBytes(200)))
  await expectDrop('bad_frame', () => {
    const header = cborEncode({ op: 1, t: '#commit' } as never)
    const body = cborEncode({ seq: fake.seq + 1, repo: alice.did, rev: 'x', blocks: new Uint8Array(64) } as never)
    fake.sendRaw(Buffer.concat([header, body.subarray(0, body.length - 20)]))
  })

  // prevData that is not the tree the relay last saw: the chain is broken, the repo resynced from getRepo
  const syncs = (rev: string) => consumer.of('#sync', alice.did).filter((f: Frame) => f.body.rev === rev).length
  const wrongPrev = await side({ prevData: await cidForCbor(cborEncode({ not: 'the previous tree' } as never)) }, 'badprev')
  await expectDrop('chain_break', () => fake.emit('#commit', wrongPrev.body))
  await consumer.waitUntil(() => syncs(v1.rev) === 1, 15_000, `#sync of alice at ${v1.rev} after the wrong prevData`)

  // right prevData, but ops that lie (an update claiming the wrong previous record): inversion fails (strict mode)
  const lying = await alice.commit([{ action: 'update', collection: POST, rkey: 'a1', record: post('sneaky edit') }], {
    apply: false,
    ops: (ops) => ops.map((op) => ({ ...op, prev: forged.cid })),
  })
  bad.push(lying.cid.toString())
  await expectDrop('bad_inversion', () => fake.emit('#commit', lying.body))
  await consumer.waitUntil(() => syncs(v1.rev) === 2, 15_000, `#sync of alice at ${v1.rev} after the failed inversion`)

  // a commit whose `since` names a rev the relay never saw: the chain is broken, the repo resynced
  const lost = await alice.commit([{ action: 'create', collection: POST, rkey: 'lost', record: post('never sent') }])
  const afterGap = await alice.commit([{ action: 'create', collection: POST, rkey: 'aftergap', record: post('after the gap') }])
  bad.push(lost.cid.toString(), afterGap.cid.toString())
  await expectDrop('chain_break', () => fake.emit('#commit', afterGap.body))
  await consumer.waitUntil(() => syncs(afterGap.rev) === 1, 15_000, `#sync of alice at ${afterGap.rev} after the chain break`)

  // honest again: the chain continues from the resynced head
  const v2 = await alice.commit([{ action: 'create', collection: POST, rkey: 'a2', record: post('honest two') }])
  fake.emit('#commit', v2.body)
  const v3 = await alice.commit([
    { action: 'update', collection: POST, rkey: 'a1', record: post('honest one, edited') },
    { action: 'delete', collection: POST, rkey: 'a2' },
  ])
  fake.emit('#commit', v3.body)
  await relayed(v3.cid)
  await realWrite('real three')
  await consumer.waitUntil((c) => realCids.every((cid) => c.recordCids(real.did).includes(cid)), 10_000, 'the real PDS writes')

  try {
    expect(consumer.commitCids(alice.did)).toEqual([v1, v2, v3].map((c) => c.cid.toString()))
    const everything = consumer.events.map((f) => String(f.body.commit ?? ''))
    for (const cid of bad) expect(everything).not.toContain(cid)
    expect(consumer.events.filter((f) => f.type === BARRIER)).toEqual([])
    for (const did of [mallory.did, ghost.did, bob.did]) {
      expect(consumer.events.filter((f) => (f.body.repo ?? f.body.did) === did)).toEqual([])
    }
    // the real account's own #identity/#account (from its PDS) are relayed; the hostile ones are not
    expect(consumer.of('#account', real.did).filter((f) => f.body.active === false)).toEqual([])
    expect(consumer.of('#identity', real.did).filter((f) => f.body.handle === 'hijacked.test')).toEqual([])
    expect(consumer.recordCids(real.did)).toEqual(expect.arrayContaining(realCids))
    // each drop counted once, under its reason, and nothing else
    expect(await dropped()).toEqual(expected)
    // the honest real PDS lost nothing
    const realStatus = (await relay.ctx.hosts.status(net.pdsHostname))!
    expect(Object.values(realStatus.dropped).reduce((s: number, n) => s + (n as number), 0)).toBe(0)

    // still serving: health, a fresh subscriber, and the hostile host still subscribed
    const health = await fetch(`${relay.url}/xrpc/_health`)
    expect(health.status).toBe(200)
    const late = await consume(relay, 0)
    await late.waitUntil((c) => c.lastSeq >= relay.ctx.eventLog.currentSeq, 10_000, 'a full replay')
    late.close()
    await fake.waitForSubscribers(1)
    expect((await relay.ctx.hosts.status(fake.hostname))!.status).toBe('active')
  } finally {
    consumer.close()
  }
})

test('a host sending nothing but garbage is counted and never takes the relay or the other hosts down', async () => {
  const junk = await FakePds.start()
  try {
    expect((await requestCrawl(relay, junk.hostname)).status).toBe(200)
    await junk.waitForSubscribers(1)
    for (let i = 0; i < 50; i++) junk.sendRaw(randomBytes(1 + (i * 37) % 500))
    await settled(junk)
    expect(relay.ctx.hosts.status(junk.hostname)!.dropped.bad_frame).toBeGreaterThanOrEqual(1)
    expect((await fetch(`${relay.url}/xrpc/_health`)).status).toBe(200)
    // the honest hosts are unaffected
    const v = await alice.commit([{ action: 'create', collection: POST, rkey: 'after-junk', record: post('still here') }])
    const consumer = await consume(relay, relay.ctx.eventLog.currentSeq)
    fake.emit('#commit', v.body)
    await consumer.waitUntil((c) => c.commitCids(alice.did).includes(v.cid.toString()), 10_000, 'alice after the junk host')
    consumer.close()
  } finally {
    await junk.close()
  }
})
