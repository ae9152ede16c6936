/**
 * Actor stores under cache pressure: a PDS that keeps 2 stores open for 6
 * accounts. A store in use (a streaming getRepo, a held `read`) is never
 * closed by eviction; an aborted stream gives its store back; writes of one
 * account stay serialised while other accounts churn the cache.
 */
import fs from 'node:fs'
import http from 'node:http'
import { verifyRepoCar } from '@atproto/repo'
import { TestNetwork, waitUntil, type TestUser } from '@atsuite/dev-env'
import { signingKeyFromPlc } from './_util.ts'

const CACHE_SIZE = 2
const FILLER = 'com.example.filler'
/** records in the big repo, each about 20 kB: ~20 MB of CAR, far more than socket buffers take */
const BIG_RECORDS = 1000
// 50 records of 20 KB: under the firehose's 2 MB per commit
const BATCH = 50

let net: TestNetwork
let big: TestUser
let others: TestUser[]

const store = () => net.pds.ctx.actorStore

beforeAll(async () => {
  // with the checkpoint thread (not the default): it copies every written store's log, evicted ones' too
  net = await TestNetwork.create({ relay: false, env: { PDS_ACTOR_STORE_CACHE_SIZE: String(CACHE_SIZE), PDS_ACTOR_STORE_CHECKPOINT_MS: '1000' } })
  big = await net.createUser('bigrepo')
  others = []
  for (let i = 0; i < 5; i++) others.push(await net.createUser(`churn${i}`))
  const text = 'x'.repeat(20_000)
  for (let start = 0; start < BIG_RECORDS; start += BATCH) {
    const writes = Array.from({ length: BATCH }, (_, j) => ({
      $type: 'com.atproto.repo.applyWrites#create' as const,
      collection: FILLER,
      rkey: `r${String(start + j).padStart(5, '0')}`,
      value: { $type: FILLER, text, n: start + j },
    }))
    await big.agent.com.atproto.repo.applyWrites({ repo: big.did, writes })
  }
}, 120_000)

afterAll(async () => {
  await net?.close()
})

/** A getRepo response the test reads at its own pace: paused after the first chunk. */
const pausedGetRepo = (did: string) =>
  new Promise<{ res: http.IncomingMessage; req: http.ClientRequest; chunks: Buffer[] }>((resolve, reject) => {
    const url = new URL(`${net.pds.url}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`)
    const req = http.get(url, { agent: false }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`getRepo ${did}: ${res.statusCode}`))
        res.resume()
        return
      }
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.once('data', () => {
        res.pause()
        resolve({ res, req, chunks })
      })
    })
    req.on('error', reject)
  })

/** Reads and writes on other accounts: each opens its store, pushing older ones out of the cache. */
const churn = async (users: TestUser[], rounds = 2) => {
  for (let r = 0; r < rounds; r++) {
    for (const u of users) {
      await u.agent.com.atproto.repo.createRecord({
        repo: u.did,
        collection: FILLER,
        record: { $type: FILLER, text: `churn ${r}`, n: r },
      })
      await u.agent.com.atproto.repo.listRecords({ repo: u.did, collection: FILLER })
      await u.agent.com.atproto.sync.getLatestCommit({ did: u.did })
    }
  }
}

/** A `read` of one account's store that stays open until `release()` is called. */
const heldRead = (did: string) => {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const done = store().read(did, async (db) => {
    await gate
    return db.getRoot()
  })
  return { release, done }
}

const waitForOpenCount = (n: number) =>
  waitUntil(() => store().openCount === n, {
    timeoutMs: 5_000,
    describe: () => `open stores: ${store().openCount}, expected ${n}`,
  })

test('a slow getRepo keeps its store while other accounts evict, and its CAR verifies', async () => {
  const [o0, o1, ...rest] = others
  const stream = await pausedGetRepo(big.did)
  const h0 = heldRead(o0.did)
  const h1 = heldRead(o1.did)
  await churn(rest)
  // three stores in use (the paused stream's and two held reads): over the cap of 2, none closed
  expect(store().openCount).toBe(3)

  h0.release()
  h1.release()
  expect((await h0.done)?.cid).toBeTruthy()
  expect((await h1.done)?.cid).toBeTruthy()
  await churn(rest, 1)

  const ended = new Promise<void>((resolve, reject) => {
    stream.res.on('end', resolve)
    stream.res.on('error', reject)
  })
  stream.res.resume()
  await ended
  const car = new Uint8Array(Buffer.concat(stream.chunks))
  const verified = await verifyRepoCar(car, big.did, await signingKeyFromPlc(net.plc.url, big.did))
  const filler = verified.creates.filter((c) => c.collection === FILLER)
  expect(filler).toHaveLength(BIG_RECORDS)
  await waitForOpenCount(CACHE_SIZE)
}, 60_000)

test('an aborted getRepo stream gives its store back', async () => {
  const [o0, o1, ...rest] = others
  const stream = await pausedGetRepo(big.did)
  const h0 = heldRead(o0.did)
  const h1 = heldRead(o1.did)
  await churn(rest, 1)
  expect(store().openCount).toBe(3)

  // the client goes away mid-stream: the server's iteration ends and releases the store
  stream.req.destroy()
  await waitForOpenCount(CACHE_SIZE)

  h0.release()
  h1.release()
  await Promise.all([h0.done, h1.done])
  await churn(rest, 1)
  expect(store().openCount).toBe(CACHE_SIZE)
  // and the account still reads and streams fine
  const res = await big.agent.com.atproto.sync.getLatestCommit({ did: big.did })
  expect(res.data.rev).toBeTruthy()
}, 60_000)

test('concurrent writes to one account are serialised while the cache churns', async () => {
  const [target, ...rest] = others
  const N = 25
  // each record cites its own fresh upload: the commit then awaits file moves between reading the
  // root and writing the new one, where unserialised commits would interleave and lose records
  const blobs = []
  for (let i = 0; i < N; i++) {
    blobs.push((await target.agent.uploadBlob(Buffer.from(`blob ${i}`), { encoding: 'text/plain' })).data.blob)
  }
  const writes = blobs.map((blob, i) =>
    target.agent.com.atproto.repo.createRecord({
      repo: target.did,
      collection: FILLER,
      rkey: `concurrent${String(i).padStart(3, '0')}`,
      record: { $type: FILLER, text: `write ${i}`, n: i, blob },
    }),
  )
  const [results] = await Promise.all([Promise.all(writes), churn(rest, 1)])
  // every write made its own commit, and each is in the repo: none built on a root another had replaced
  const revs = results.map((r) => r.data.commit?.rev ?? '')
  expect(new Set(revs).size).toBe(N)

  const res = await target.agent.com.atproto.sync.getRepo({ did: target.did })
  const verified = await verifyRepoCar(res.data, target.did, await signingKeyFromPlc(net.plc.url, target.did))
  const keys = new Set(verified.creates.map((c) => c.rkey))
  for (let i = 0; i < N; i++) expect(keys.has(`concurrent${String(i).padStart(3, '0')}`)).toBe(true)

  // and in-process: at most one transact of an account runs at a time, in call order
  let active = 0
  let maxActive = 0
  const order: number[] = []
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      store().transact(target.did, async (db) => {
        active++
        maxActive = Math.max(maxActive, active)
        await new Promise((r) => setTimeout(r, 2))
        expect(db.getRoot()).toBeTruthy()
        order.push(i)
        active--
      }),
    ),
  )
  expect(maxActive).toBe(1)
  expect(order).toEqual([...order].sort((a, b) => a - b))
  await waitForOpenCount(CACHE_SIZE)
}, 60_000)

test('an account deleted while its repo streams: the stream completes, the account is gone', async () => {
  const stream = await pausedGetRepo(big.did)
  await net.agent().com.atproto.admin.deleteAccount({ did: big.did }, { headers: net.adminAuthHeaders() })
  expect(store().exists(big.did)).toBe(false)
  await expect(net.agent().com.atproto.sync.getLatestCommit({ did: big.did })).rejects.toMatchObject({ error: 'RepoNotFound' })

  // the export already under way reads on from the removed (unlinked) files
  const ended = new Promise<void>((resolve, reject) => {
    stream.res.on('end', resolve)
    stream.res.on('error', reject)
  })
  stream.res.resume()
  await ended
  const car = new Uint8Array(Buffer.concat(stream.chunks))
  const verified = await verifyRepoCar(car, big.did, await signingKeyFromPlc(net.plc.url, big.did))
  expect(verified.creates.filter((c) => c.collection === FILLER)).toHaveLength(BIG_RECORDS)
  await churn(others, 1)
  expect(store().openCount).toBe(CACHE_SIZE)
  // the deleted store is gone for good: the checkpoint thread (told to forget it first) never made it again
  expect(fs.existsSync(store().location(big.did).dir)).toBe(false)
}, 60_000)

test("the stores' logs are copied into their files by the checkpoint thread", async () => {
  // every write above touched its store; the thread checkpointed them, with evicted stores' connections closed
  await waitUntil(() => (store().checkpointStats?.checkpoints ?? 0) > 0, {
    timeoutMs: 15_000,
    describe: () => `checkpoint stats: ${JSON.stringify(store().checkpointStats)}`,
  })
  const stats = store().checkpointStats!
  expect(stats.failures).toBe(0)
  expect(stats.open).toBeLessThanOrEqual(others.length + 1)
  // a store written now is checkpointed within the interval: its rows reach the database file
  const [o] = others
  const before = stats.checkpoints
  await o.agent.com.atproto.repo.createRecord({ repo: o.did, collection: FILLER, record: { $type: FILLER, text: 'x'.repeat(20_000), n: -1 } })
  await waitUntil(() => store().checkpointStats!.checkpoints > before, { timeoutMs: 15_000, describe: () => 'a checkpoint after the write' })
})

test('the head row a store keeps in memory follows commits and forgets one rolled back', async () => {
  const [o] = others
  const written = await o.agent.com.atproto.repo.createRecord({ repo: o.did, collection: FILLER, record: { $type: FILLER, text: 'head', n: -2 } })
  await store().transact(o.did, (db) => {
    const before = db.getRoot()
    expect(before).toMatchObject({ did: o.did, cid: written.data.commit!.cid, rev: written.data.commit!.rev })
    expect(() =>
      db.transaction(() => {
        db.setRoot(o.did, 'bafyreinotacommit', 'zzzzzzzzzzzzz', new Date().toISOString())
        expect(db.getRoot()?.cid).toBe('bafyreinotacommit')
        throw new Error('fails after writing the head')
      }),
    ).toThrow('fails after writing the head')
    // read again from the file: the rolled-back head is gone
    expect(db.getRoot()).toEqual(before)
  })
  // and the next write commits on top of the real head
  const next = await o.agent.com.atproto.repo.createRecord({ repo: o.did, collection: FILLER, record: { $type: FILLER, text: 'after', n: -3 } })
  const latest = await o.agent.com.atproto.sync.getLatestCommit({ did: o.did })
  expect(latest.data).toEqual({ cid: next.data.commit!.cid, rev: next.data.commit!.rev })
})
