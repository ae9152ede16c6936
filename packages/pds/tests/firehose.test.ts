import { WebSocket } from 'ws'
import { Firehose, type Event } from '@atproto/sync'
import { IdResolver } from '@atproto/identity'
import { decodeAll } from '@atproto/lex-cbor'
import { readCarWithRoot } from '@atproto/repo'
import { TestNetwork } from '@atsuite/dev-env'

type Frame = { header: { op: number; t?: string }; body: Record<string, unknown> }

const wsUrl = (net: TestNetwork, cursor?: number | string) =>
  `ws://localhost:${net.pds.port}/xrpc/com.atproto.sync.subscribeRepos${cursor === undefined ? '' : `?cursor=${cursor}`}`

/** Collects decoded frames from a raw WebSocket until `until` says stop or the socket closes. */
const collectFrames = (url: string, until: (frames: Frame[]) => boolean, timeoutMs = 10_000) =>
  new Promise<{ frames: Frame[]; closed: boolean }>((resolve, reject) => {
    const frames: Frame[] = []
    const ws = new WebSocket(url)
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`timed out with ${frames.length} frames`))
    }, timeoutMs)
    const done = (closed: boolean) => {
      clearTimeout(timer)
      ws.removeAllListeners()
      ws.terminate()
      resolve({ frames, closed })
    }
    ws.on('message', (data: Buffer) => {
      const [header, body] = [...decodeAll(new Uint8Array(data))] as unknown as [Frame["header"], Frame["body"]]
      frames.push({ header, body })
      if (until(frames)) done(false)
    })
    ws.on('close', () => done(true))
    ws.on('error', reject)
  })

const waitFor = async (cond: () => boolean, timeoutMs = 10_000) => {
  const start = Date.now()
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

let net: TestNetwork
beforeAll(async () => {
  net = await TestNetwork.create({ env: { PDS_FIREHOSE_MAX_BUFFER_BYTES: '200000' } })
})
afterAll(async () => {
  await net?.close()
})

test('a verifying Firehose client receives every write once, in rev order per repo', async () => {
  const users = await Promise.all(['fha', 'fhb', 'fhc'].map((n) => net.createUser(n)))
  const expected = new Map<string, string>() // uri -> action:cid
  for (let i = 0; i < 5; i++) {
    for (const u of users) {
      const res = await u.agent.post({ text: `post ${i}`, createdAt: new Date().toISOString() })
      expected.set(`create ${res.uri}`, res.cid)
    }
  }
  const victim = users[0]
  const first = [...expected.keys()].find((k) => k.includes(victim.did))!.split(' ')[1]
  const rkey = first.split('/').pop()!
  await victim.agent.com.atproto.repo.deleteRecord({ repo: victim.did, collection: 'app.bsky.feed.post', rkey })
  expected.set(`delete ${first}`, '')

  const seen: Event[] = []
  const errors: Error[] = []
  const firehose = new Firehose({
    service: `ws://localhost:${net.pds.port}`,
    idResolver: new IdResolver({ plcUrl: net.plc.url, fetch: globalThis.fetch }),
    getCursor: () => 0,
    handleEvent: (evt) => {
      seen.push(evt)
    },
    onError: (err) => errors.push(err),
  })
  void firehose.start()
  try {
    await waitFor(() => seen.filter((e) => e.event === 'create' || e.event === 'delete').length >= expected.size)
    await new Promise((r) => setTimeout(r, 200)) // nothing extra may follow
  } finally {
    await firehose.destroy()
  }
  expect(errors).toEqual([])
  const writes = seen.filter((e) => e.event === 'create' || e.event === 'update' || e.event === 'delete')
  const keys = writes.map((e) => `${e.event} ${(e as { uri: { toString(): string } }).uri.toString()}`)
  expect(new Set(keys).size).toBe(keys.length) // once each
  expect(new Set(keys)).toEqual(new Set(expected.keys()))
  for (const e of writes) {
    if (e.event === 'create') expect(String((e as { cid: unknown }).cid)).toBe(expected.get(`create ${e.uri.toString()}`))
  }
  // rev order per repo
  for (const u of users) {
    const revs = writes.filter((e) => e.did === u.did).map((e) => (e as { rev: string }).rev)
    expect([...revs].sort()).toEqual(revs)
  }
  // account creation announced: identity, account (active), sync
  for (const u of users) {
    const kinds = seen.filter((e) => e.did === u.did).map((e) => e.event)
    expect(kinds).toEqual(expect.arrayContaining(['identity', 'account', 'sync']))
    const acc = seen.find((e) => e.did === u.did && e.event === 'account') as { active: boolean }
    expect(acc.active).toBe(true)
  }
})

test('raw frames: sync v1.1 commit fields, cursor replay without gaps or duplicates', async () => {
  const u = await net.createUser('fhraw')
  const start = net.pds.ctx.sequencer.currentSeq
  const post = await u.agent.post({ text: 'raw', createdAt: new Date().toISOString() })
  const rkey = post.uri.split('/').pop()!
  await u.agent.com.atproto.repo.putRecord({
    repo: u.did,
    collection: 'app.bsky.feed.post',
    rkey,
    record: { $type: 'app.bsky.feed.post', text: 'raw edited', createdAt: new Date().toISOString() },
  })
  const end = net.pds.ctx.sequencer.currentSeq
  const { frames } = await collectFrames(wsUrl(net, start), (f) => f.length >= end - start)
  const seqs = frames.map((f) => f.body.seq as number)
  expect(seqs).toEqual(Array.from({ length: end - start }, (_, i) => start + 1 + i))
  const commits = frames.filter((f) => f.header.t === '#commit')
  expect(commits.length).toBe(2)
  const update = commits[1].body
  expect(update.rebase).toBe(false)
  expect(update.tooBig).toBe(false)
  expect(update.blobs).toEqual([])
  expect(update.prevData).toBeDefined()
  expect(update.since).toBe(commits[0].body.rev)
  const ops = update.ops as { action: string; path: string; cid: unknown; prev?: unknown }[]
  expect(ops).toHaveLength(1)
  expect(ops[0].action).toBe('update')
  expect(String(ops[0].prev)).toBe(post.cid)
})

test('a commit that deletes a record and writes an identical one elsewhere carries that record', async () => {
  const u = await net.createUser('fhsame')
  const other = await net.createUser('fhsame2')
  // a follow, then in one commit: that follow deleted and the same record (same subject, same date) created at another key
  const record = { $type: 'app.bsky.graph.follow', subject: other.did, createdAt: '2026-01-01T00:00:00.000Z' }
  const first = await u.agent.com.atproto.repo.createRecord({ repo: u.did, collection: 'app.bsky.graph.follow', record })
  const start = net.pds.ctx.sequencer.currentSeq
  const res = await u.agent.com.atproto.repo.applyWrites({
    repo: u.did,
    writes: [
      { $type: 'com.atproto.repo.applyWrites#delete', collection: 'app.bsky.graph.follow', rkey: first.data.uri.split('/').pop()! },
      { $type: 'com.atproto.repo.applyWrites#create', collection: 'app.bsky.graph.follow', rkey: '3zzzzzzzzzzzz', value: record },
    ],
  })
  expect((res.data.results![1] as { cid: string }).cid).toBe(first.data.cid)
  const { frames } = await collectFrames(wsUrl(net, start), (f) => f.some((x) => x.header.t === '#commit' && x.body.repo === u.did))
  const commit = frames.find((x) => x.header.t === '#commit' && x.body.repo === u.did)!.body
  const car = await readCarWithRoot(commit.blocks as Uint8Array)
  // the block was already in the store (nothing new to write), yet a consumer needs it to index the create
  expect(String((commit.ops as { cid: unknown }[])[1]!.cid)).toBe(first.data.cid)
  expect([...car.blocks.entries()].some((e) => e.cid.toString() === first.data.cid)).toBe(true)
})

test('future cursor gets FutureCursor; an empty cursor means live; plain GET is refused', async () => {
  const future = await collectFrames(wsUrl(net, net.pds.ctx.sequencer.currentSeq + 1000), () => false)
  expect(future.closed).toBe(true)
  expect(future.frames[0].header.op).toBe(-1)
  expect(future.frames[0].body.error).toBe('FutureCursor')

  const u = await net.createUser('fhlive')
  const livePromise = collectFrames(wsUrl(net, ''), (f) => f.some((x) => x.header.t === '#commit'))
  await new Promise((r) => setTimeout(r, 200))
  const before = net.pds.ctx.sequencer.currentSeq
  await u.agent.post({ text: 'live', createdAt: new Date().toISOString() })
  const live = await livePromise
  expect((live.frames[0].body.seq as number) > before).toBe(true)

  const res = await fetch(`${net.pds.url}/xrpc/com.atproto.sync.subscribeRepos`)
  expect(res.status).toBe(426)
  expect(((await res.json()) as { error: string }).error).toBe('InvalidRequest')
})

test('a slow consumer is cut with ConsumerTooSlow while a fast one keeps receiving', async () => {
  const u = await net.createUser('fhslow')
  const slow = new WebSocket(wsUrl(net))
  const slowFrames: Frame[] = []
  let slowClosed = false
  await new Promise((r) => slow.once('open', r))
  // stop reading: the server's socket buffer fills up
  ;(slow as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause()
  slow.on('message', (d: Buffer) => {
    const [header, body] = [...decodeAll(new Uint8Array(d))] as unknown as [Frame["header"], Frame["body"]]
    slowFrames.push({ header, body })
  })
  slow.on('close', () => (slowClosed = true))

  const startSeq = net.pds.ctx.sequencer.currentSeq
  const N = 60
  const fastPromise = collectFrames(wsUrl(net), (f) => f.filter((x) => x.header.t === '#commit').length >= N, 60_000)
  await new Promise((r) => setTimeout(r, 200))
  // 60 × 250 kB: far past what the kernel's loopback socket buffers absorb (a few MB), so the
  // server's own buffer for the paused consumer must grow past its 200 kB limit
  const big = 'x'.repeat(250_000)
  for (let i = 0; i < N; i++) {
    await u.agent.com.atproto.repo.createRecord({ repo: u.did, collection: 'com.example.blob', record: { big, i } })
  }
  const fast = await fastPromise
  expect(fast.frames.filter((x) => x.header.t === '#commit').length).toBe(N)
  expect((fast.frames[0].body.seq as number) > startSeq).toBe(true)

  ;(slow as unknown as { _socket: { resume(): void } })._socket.resume()
  await waitFor(() => slowClosed, 15_000)
  const last = slowFrames[slowFrames.length - 1]
  expect(last.header.op).toBe(-1)
  expect(last.body.error).toBe('ConsumerTooSlow')
  expect(slowFrames.length).toBeLessThan(N + 1)
})

test('WebSocket pings are answered', async () => {
  const ws = new WebSocket(wsUrl(net))
  await new Promise((r) => ws.once('open', r))
  const pong = new Promise<Buffer>((r) => ws.once('pong', r))
  ws.ping(Buffer.from('are you there'))
  expect((await pong).toString()).toBe('are you there')
  ws.terminate()
})
