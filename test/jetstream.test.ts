/**
 * The relay's Jetstream-compatible JSON stream, driven by an unmodified
 * Jetstream client (`@skyware/jetstream`): writes made through AtpAgent on
 * the PDS arrive as Jetstream commit events with their records, filtered by
 * collection (prefixes too) and by DID, replayed from a microsecond cursor,
 * and re-filtered by an `options_update`.
 */
import { Jetstream } from '@skyware/jetstream'
import WebSocket from 'ws'
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { POST, post, rkeyOf } from './_util.ts'

type Evt = { did: string; time_us: number; kind: string; commit?: Record<string, any>; identity?: Record<string, any>; account?: Record<string, any> }

let net: TestNetwork
let alice: TestUser
let bob: TestUser
const clients: Jetstream[] = []

beforeAll(async () => {
  net = await TestNetwork.create()
  alice = await net.createUser('alice')
  bob = await net.createUser('bob')
  await net.processAll()
})

afterAll(async () => {
  for (const c of clients) c.close()
  await net?.close()
})

const endpoint = () => `ws://localhost:${net.relay!.port}/subscribe`

/** A Jetstream client that keeps every event it is given. */
const open = async (opts: { wantedCollections?: string[]; wantedDids?: string[]; cursor?: number }) => {
  const client = new Jetstream({ ws: WebSocket, endpoint: endpoint(), ...opts })
  clients.push(client)
  const events: Evt[] = []
  const errors: unknown[] = []
  client.on('commit', (e: Evt) => events.push(e))
  client.on('identity', (e: Evt) => events.push(e))
  client.on('account', (e: Evt) => events.push(e))
  client.on('error', (err: unknown) => errors.push(err))
  const opened = new Promise<void>((resolve) => client.on('open', () => resolve()))
  client.start()
  await opened
  return { client, events, errors }
}

const until = async (cond: () => boolean, label: string, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const commits = (events: Evt[]) => events.filter((e) => e.kind === 'commit').map((e) => `${e.did === alice.did ? 'alice' : 'bob'} ${e.commit!.operation} ${e.commit!.collection}`)

test('commits arrive as Jetstream events with their records, filtered by collection prefix and by DID', async () => {
  const feed = await open({ wantedCollections: ['app.bsky.feed.*'] })
  const bobs = await open({ wantedDids: [bob.did] })

  const hello = await post(alice.agent, 'hello jetstream')
  const like = await bob.agent.like(hello.uri, hello.cid)
  await bob.agent.follow(alice.did)
  await alice.agent.upsertProfile((p) => ({ ...p, displayName: 'Alice' }))
  await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: POST, rkey: rkeyOf(hello.uri) })
  await net.processAll()

  await until(() => commits(feed.events).length >= 3, 'the feed client')
  await until(() => commits(bobs.events).length >= 2, "bob's client")
  expect(commits(feed.events)).toEqual(['alice create app.bsky.feed.post', 'bob create app.bsky.feed.like', 'alice delete app.bsky.feed.post'])
  expect(commits(bobs.events)).toEqual(['bob create app.bsky.feed.like', 'bob create app.bsky.graph.follow'])
  expect(feed.errors).toEqual([])

  const [created, liked, deleted] = feed.events.filter((e) => e.kind === 'commit')
  expect(created).toMatchObject({
    did: alice.did,
    kind: 'commit',
    commit: { operation: 'create', collection: POST, rkey: rkeyOf(hello.uri), cid: hello.cid, record: { $type: POST, text: 'hello jetstream' } },
  })
  expect(typeof created.commit!.rev).toBe('string')
  expect(liked.commit).toMatchObject({ cid: like.cid, record: { $type: 'app.bsky.feed.like', subject: { uri: hello.uri, cid: hello.cid } } })
  expect(deleted.commit).toEqual({ rev: deleted.commit!.rev, operation: 'delete', collection: POST, rkey: rkeyOf(hello.uri) })
  const times = feed.events.map((e) => e.time_us)
  expect(times).toEqual([...times].sort((a, b) => a - b))
  expect(new Set(times).size).toBe(times.length)
  // microseconds since the epoch, near now
  expect(Math.abs(times[0] / 1000 - Date.now())).toBeLessThan(60_000)
})

test('a cursor in microseconds replays from that event on, then goes live', async () => {
  const all = await open({ wantedCollections: ['app.bsky.feed.post', 'app.bsky.graph.follow'], cursor: 1 })
  await net.processAll()
  await until(() => commits(all.events).length >= 3, 'replay from the start')
  const replayed = all.events.filter((e) => e.kind === 'commit')
  expect(commits(replayed)).toEqual(['alice create app.bsky.feed.post', 'bob create app.bsky.graph.follow', 'alice delete app.bsky.feed.post'])

  // from the follow's time on: the follow (inclusive), the delete, then what is written next
  const from = await open({ wantedCollections: ['app.bsky.feed.post', 'app.bsky.graph.follow'], cursor: replayed[1].time_us })
  await until(() => commits(from.events).length >= 2, 'replay from a cursor')
  const next = await post(alice.agent, 'after the replay')
  await net.processAll()
  await until(() => commits(from.events).length >= 3, 'live after the replay')
  expect(from.events.filter((e) => e.kind === 'commit').map((e) => e.time_us).slice(0, 2)).toEqual([replayed[1].time_us, replayed[2].time_us])
  expect(commits(from.events)).toEqual(['bob create app.bsky.graph.follow', 'alice delete app.bsky.feed.post', 'alice create app.bsky.feed.post'])
  expect(from.events.at(-1)!.commit).toMatchObject({ cid: next.cid, record: { text: 'after the replay' } })
})

test('options_update changes the filter mid-stream; a malformed filter is refused with 400', async () => {
  const c = await open({ wantedCollections: ['app.bsky.feed.post'] })
  c.client.updateOptions({ wantedCollections: ['app.bsky.graph.*'], wantedDids: [] })
  // the update is a message on the socket: wait for it to apply before writing
  await new Promise((r) => setTimeout(r, 100))
  await post(alice.agent, 'not wanted any more')
  await alice.agent.follow(bob.did)
  await net.processAll()
  await until(() => commits(c.events).length >= 1, 'the follow')
  await new Promise((r) => setTimeout(r, 100))
  expect(commits(c.events)).toEqual(['alice create app.bsky.graph.follow'])

  const status = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`${endpoint()}?wantedCollections=not%20an%20nsid`)
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
    ws.on('open', () => resolve(101))
    ws.on('error', () => undefined)
  })
  expect(status).toBe(400)
  const plain = await fetch(`http://localhost:${net.relay!.port}/subscribe`)
  expect(plain.status).toBe(426)
})
