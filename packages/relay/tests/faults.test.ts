/**
 * Local faults must not cost consumers an event. The relay's event log is
 * made to refuse appends the way a full disk does (SQLite's page limit:
 * SQLITE_FULL, "database or disk is full"); while it does, the relay reports
 * an error state, persists no cursor past what the log holds and stops
 * reading from its hosts; once the log takes writes again, every upstream
 * event reaches a consumer exactly once, in order. And an error of the
 * relay's own while processing an event is counted as the relay's, not
 * charged to the host, and the account is resynced.
 */
import { POST, post, relayAdminHeaders, waitForHostCursor, type FakeAccount, type FakePds } from '@atsuite/dev-env'
import type { RelayServer } from '@atsuite/relay'
import { consume, fakeHostRelay, type FakeHostRelay } from './_net.ts'

let fake: FakePds
let relay: RelayServer
let alice: FakeAccount

let net: FakeHostRelay

beforeAll(async () => {
  net = await fakeHostRelay('faults')
  ;({ fake, relay, alice } = net)
})

afterAll(async () => {
  await net?.close()
})

let n = 0
const commit = async (): Promise<{ cid: string; seq: number }> => {
  n++
  // a few KB each, so every append needs new pages in the log
  const c = await alice.commit([{ action: 'create', collection: POST, rkey: `r${n}`, record: post(`${n} ${'x'.repeat(3000)}`) }])
  const seq = fake.emit('#commit', c.body)
  return { cid: c.cid.toString(), seq }
}

const persistedCursor = (hostname: string): number =>
  Number((relay.ctx.db.sqlite.prepare('SELECT cursor FROM host WHERE hostname = ?').get(hostname) as { cursor: number }).cursor)

/** Polls an HTTP-observable condition (health, admin status) until it holds. */
const eventually = async (cond: () => boolean | Promise<boolean>, label: string, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

const health = async () => {
  const res = await fetch(`${relay.url}/xrpc/_health`)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

test('a log that refuses appends (disk full): error state, no cursor past the log, ingestion paused; after it recovers every event arrives exactly once', async () => {
  const consumer = await consume(relay, 0)
  try {
    const first = [await commit(), await commit()]
    await waitForHostCursor(relay, fake.hostname, first[1].seq)
    await consumer.waitUntil((c) => first.every((x) => c.commitCids(alice.did).includes(x.cid)), 10_000, 'commits before the fault')
    relay.ctx.flush()
    const cursorBefore = persistedCursor(fake.hostname)
    expect(cursorBefore).toBe(first[1].seq)

    // the disk is full: the log's file may not grow by one page
    const log = relay.ctx.eventLog.db
    const pages = log.pragma('page_count', { simple: true }) as number
    log.pragma(`max_page_count = ${pages}`)

    const during = [await commit(), await commit(), await commit()]
    await eventually(async () => (await health()).status === 503, '_health to report the error')
    // the event that met the full disk was received by now
    const failingSince = performance.now()
    const h = await health()
    expect(h.body).toMatchObject({ error: 'EventLogUnavailable' })
    expect(String(h.body.message)).toMatch(/full/i)
    const status = (await (await fetch(`${relay.url}/admin/status`, { headers: relayAdminHeaders() })).json()) as { internalErrors: number }
    expect(status).toMatchObject({ eventLog: { state: 'failing' }, ingestPaused: true, internalErrors: 0 })
    // nothing was persisted past what the log holds, and the host was let go
    await eventually(() => relay.ctx.hosts.status(fake.hostname)?.status !== 'active', 'host subscription paused')
    expect(persistedCursor(fake.hostname)).toBe(cursorBefore)
    expect(consumer.commitCids(alice.did)).toEqual(first.map((x) => x.cid))

    // written upstream while the relay is not reading: the host re-sends it from the cursor
    const whilePaused = await commit()

    const restored = performance.now()
    log.pragma('max_page_count = 1073741823')
    await eventually(async () => (await health()).status === 200, '_health to recover')
    await waitForHostCursor(relay, fake.hostname, whilePaused.seq)
    const all = [...first, ...during, whilePaused]
    await consumer.waitUntil((c) => c.commitCids(alice.did).length >= all.length, 10_000, 'every commit')
    await new Promise((r) => setTimeout(r, 200)) // room for a duplicate to show up
    expect(consumer.commitCids(alice.did)).toEqual(all.map((x) => x.cid))
    const seqs = consumer.seqs
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    expect(new Set(seqs).size).toBe(seqs.length)
    relay.ctx.flush()
    expect(persistedCursor(fake.hostname)).toBe(whilePaused.seq)
    const after = (await (await fetch(`${relay.url}/admin/status`, { headers: relayAdminHeaders() })).json()) as { eventLog: { failures: number } }
    expect(after).toMatchObject({ eventLog: { state: 'ok', queued: 0 }, ingestPaused: false })
    expect(after.eventLog.failures).toBeGreaterThan(0)
    // the relay's own latency (receipt → handed to subscribers) counts each relayed event once, and
    // the event held while the log refused appends waited at least as long as the fault lasted
    type Latency = { events: number; p50Ms: number; p99Ms: number; maxMs: number; buckets: [number, number][] }
    const latency = (await (await fetch(`${relay.url}/admin/latency`, { headers: relayAdminHeaders() })).json()) as Latency
    const relayed = relay.ctx.hosts.list().reduce((sum, host) => sum + host.eventsRelayed, 0)
    expect(latency.events).toBe(relayed)
    expect(latency.events).toBeGreaterThanOrEqual(all.length)
    expect(latency.buckets.reduce((sum, [, count]) => sum + count, 0)).toBe(latency.events)
    expect(latency.p50Ms).toBeGreaterThan(0)
    expect(latency.p50Ms).toBeLessThanOrEqual(latency.p99Ms)
    expect(latency.maxMs).toBeGreaterThanOrEqual(restored - failingSince)
    // and a replay from cursor 0 holds each commit once
    const replay = await consume(relay, 0)
    try {
      await replay.waitUntil((c) => c.commitCids(alice.did).length >= all.length, 10_000, 'replay')
      expect(replay.commitCids(alice.did)).toEqual(all.map((x) => x.cid))
    } finally {
      replay.close()
    }
  } finally {
    consumer.close()
  }
})

test("an error of the relay's own while processing an event is not charged to the host; the account is announced desynchronized, resynced, and active again", async () => {
  const consumer = await consume(relay, relay.ctx.eventLog.currentSeq)
  try {
    const hostBefore = relay.ctx.hosts.status(fake.hostname)!
    // a fault inside the relay (not in anything the host sent): the account store fails once
    const accounts = relay.ctx.accounts
    const realGet = accounts.get.bind(accounts)
    let armed = true
    accounts.get = (did: string) => {
      if (armed) {
        armed = false
        throw new Error('injected relay fault')
      }
      return realGet(did)
    }
    let c: { cid: string; seq: number }
    try {
      c = await commit()
      await waitForHostCursor(relay, fake.hostname, c.seq)
    } finally {
      accounts.get = realGet
    }
    expect(armed).toBe(false)
    const hostAfter = relay.ctx.hosts.status(fake.hostname)!
    expect(hostAfter.dropped.bad_frame).toBe(hostBefore.dropped.bad_frame)
    const status = (await (await fetch(`${relay.url}/admin/status`, { headers: relayAdminHeaders() })).json()) as { internalErrors: number }
    expect(status.internalErrors).toBe(1)
    // the commit's content reaches consumers through a resync of the account (#sync with its head)
    await consumer.waitUntil((x) => x.of('#sync', alice.did).some((f) => f.body.rev === alice.head().rev), 15_000, '#sync after the fault')
    // and consumers were told: desynchronized when the chain broke, active again once resynced
    await consumer.waitUntil((x) => x.of('#account', alice.did).length >= 2, 5_000, '#account after the resync')
    const types = consumer.events.filter((f) => (f.body.repo ?? f.body.did) === alice.did).map((f) => f.type === '#account' ? `#account ${f.body.active} ${f.body.status ?? ''}`.trim() : f.type)
    expect(types).toEqual(['#account false desynchronized', '#sync', '#account true'])
  } finally {
    consumer.close()
  }
})
