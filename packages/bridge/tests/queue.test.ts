/**
 * The bridge's task queues and deliveries on a real SQLite file, against
 * inboxes on loopback: separate channels (a fan-out never holds back inbound
 * activities), no private key in the queued rows, draft-cavage signatures
 * with Digest (RFC 9421 for an inbox that refuses those, remembered), a
 * redirect followed re-signed, a restart that resumes what was left and
 * repeats nothing.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { exportJwk, generateCryptoKeyPair } from '@fedify/fedify'
import { openBridgeDb, type BridgeDb } from '../src/db/index.ts'
import { DeliveryLedger, type OutboxMessage } from '../src/fedify/delivery.ts'
import { SqliteMessageQueue } from '../src/fedify/queue.ts'

type Received = { path: string; headers: http.IncomingHttpHeaders; body: string }

let dir: string
let db: BridgeDb
let jwk: Awaited<ReturnType<typeof exportJwk>>
const KEY_ID = 'http://bridge.invalid/ap/users/did:plc:alice#main-key'
const policy = { giveUpMs: 60_000, maxDelayMs: 1000, deadProbeMs: 60_000, rememberMs: 60_000 }

/** An inbox server: records what arrives, answers with `answer(path, headers)` after `delayMs`. */
const inboxServer = async (answer: (req: http.IncomingMessage) => { status: number; location?: string } = () => ({ status: 202 }), delayMs = 0) => {
  const received: Received[] = []
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs))
    received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
    const a = answer(req)
    res.writeHead(a.status, a.location ? { location: a.location } : {}).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    received,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

const delivery = (inbox: string, n: number): OutboxMessage => ({
  type: 'outbox',
  keys: [{ keyId: KEY_ID, privateKey: jwk }],
  activity: { '@context': 'https://www.w3.org/ns/activitystreams', id: `http://bridge.invalid/activities/${n}`, type: 'Create', object: { type: 'Note', content: `note ${n}` } },
  activityId: `http://bridge.invalid/activities/${n}`,
  inbox,
  started: new Date().toISOString(),
  attempt: 0,
  headers: {},
})

const ledgerOf = () => new DeliveryLedger(db, policy, 'test-bridge', async (keyId) => (keyId === KEY_ID ? jwk : undefined))

const until = async (cond: () => boolean, label: string, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${label}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atsuite-bridge-queue-'))
  db = await openBridgeDb(path.join(dir, 'bridge.sqlite'))
  jwk = await exportJwk((await generateCryptoKeyPair('RSASSA-PKCS1-v1_5')).privateKey)
})

afterAll(async () => {
  await db.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test('a fan-out of slow deliveries does not hold back inbound activities, and the queued rows carry no private key', async () => {
  const slow = await inboxServer(undefined, 30)
  const ledger = ledgerOf()
  const outbox = new SqliteMessageQueue(db, { channel: 'outbox', workers: 2, ledger })
  const inbox = new SqliteMessageQueue(db, { channel: 'inbox', workers: 1 })
  const abort = new AbortController()
  const handled: number[] = []
  try {
    await outbox.enqueueMany(Array.from({ length: 120 }, (_, i) => delivery(`${slow.origin}/users/u${i}/inbox`, i)))
    const rows = db.sqlite.prepare("SELECT message FROM queue WHERE channel = 'outbox'").pluck().all() as string[]
    expect(rows).toHaveLength(120)
    // the key id only: no private key material (`d`, the primes) in the queue
    for (const r of rows) expect(JSON.parse(r).keys).toEqual([{ keyId: KEY_ID }])
    const running = Promise.all([outbox.listen(async () => undefined, { signal: abort.signal }), inbox.listen(async (m) => void handled.push((m as { n: number }).n), { signal: abort.signal })])
    await until(() => slow.received.length >= 10, 'the fan-out under way')
    const t0 = Date.now()
    await inbox.enqueue({ type: 'inbox', n: 1 })
    await until(() => handled.length === 1, 'the inbound activity')
    // handled at once, while most of the fan-out still waits
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(outbox.depth()).toBeGreaterThan(60)
    await until(() => outbox.depth() === 0, 'the fan-out done', 30_000)
    abort.abort()
    await running
    expect(slow.received).toHaveLength(120)
    expect(new Set(slow.received.map((r) => r.path)).size).toBe(120)
    expect(ledger.stats).toMatchObject({ delivered: 120, failed: 0 })
  } finally {
    abort.abort()
    ledger.close()
    await slow.close()
  }
})

test('deliveries are signed as Mastodon verifies them (draft-cavage, Digest of the body)', async () => {
  const inbox = await inboxServer()
  const ledger = ledgerOf()
  try {
    const outcome = await ledger.deliver(delivery(`${inbox.origin}/inbox`, 1000))
    expect(outcome).toEqual({ kind: 'delivered' })
    const [r] = inbox.received
    expect(r.headers.digest).toBe(`SHA-256=${createHash('sha256').update(r.body).digest('base64')}`)
    expect(r.headers['content-type']).toBe('application/activity+json')
    expect(r.headers.signature).toMatch(new RegExp(`^keyId="${KEY_ID}",algorithm="rsa-sha256",headers="\\(request-target\\) [^"]*digest[^"]*",signature="`))
    expect(JSON.parse(r.body)).toMatchObject({ id: 'http://bridge.invalid/activities/1000', type: 'Create' })
  } finally {
    ledger.close()
    await inbox.close()
  }
})

test('an inbox refusing draft-cavage (401) gets RFC 9421, remembered; a 5xx changes nothing; a redirect is followed re-signed', async () => {
  const strict = await inboxServer((req) => ({ status: req.headers['signature-input'] ? 202 : 401 }))
  const flaky = await inboxServer(() => ({ status: 503 }))
  const moved = await inboxServer((req) => (req.url === '/old' ? { status: 308, location: '/new' } : { status: 202 }))
  const ledger = ledgerOf()
  try {
    expect(await ledger.deliver(delivery(`${strict.origin}/inbox`, 2000))).toEqual({ kind: 'delivered' })
    expect(strict.received.map((r) => (r.headers['signature-input'] ? 'rfc9421' : 'cavage'))).toEqual(['cavage', 'rfc9421'])
    expect(await ledger.deliver(delivery(`${strict.origin}/inbox`, 2001))).toEqual({ kind: 'delivered' })
    // remembered: straight to RFC 9421
    expect(strict.received.map((r) => (r.headers['signature-input'] ? 'rfc9421' : 'cavage'))).toEqual(['cavage', 'rfc9421', 'rfc9421'])

    const failed = await ledger.deliver(delivery(`${flaky.origin}/inbox`, 2002))
    expect(failed).toMatchObject({ kind: 'failed', error: expect.stringContaining('503') })
    // one request, still draft-cavage
    expect(flaky.received).toHaveLength(1)
    expect(flaky.received[0].headers.signature).toContain('keyId=')

    expect(await ledger.deliver(delivery(`${moved.origin}/old`, 2003))).toEqual({ kind: 'delivered' })
    expect(moved.received.map((r) => r.path)).toEqual(['/old', '/new'])
    expect(moved.received[1].headers.signature).toContain(`keyId="${KEY_ID}"`)
  } finally {
    ledger.close()
    await Promise.all([strict.close(), flaky.close(), moved.close()])
  }
})

test('stopped mid-fan-out and started again: every inbox gets its delivery exactly once', async () => {
  const inbox = await inboxServer(undefined, 10)
  try {
    const ledgers = [ledgerOf(), ledgerOf()]
    const first = new SqliteMessageQueue(db, { channel: 'outbox', workers: 4, ledger: ledgers[0] })
    await first.enqueueMany(Array.from({ length: 100 }, (_, i) => delivery(`${inbox.origin}/users/v${i}/inbox`, 3000 + i)))
    const abort = new AbortController()
    const running = first.listen(async () => undefined, { signal: abort.signal })
    await until(() => inbox.received.length >= 30, 'a third delivered')
    abort.abort()
    await running
    const left = first.depth()
    expect(left).toBeGreaterThan(0)
    expect(left).toBeLessThan(100)
    // the same deliveries queued again (a firehose replay) are dropped as already made
    const second = new SqliteMessageQueue(db, { channel: 'outbox', workers: 4, ledger: ledgers[1] })
    await second.enqueueMany(Array.from({ length: 100 }, (_, i) => delivery(`${inbox.origin}/users/v${i}/inbox`, 3000 + i)))
    const again = new AbortController()
    const resumed = second.listen(async () => undefined, { signal: again.signal })
    await until(() => second.depth() === 0, 'the rest delivered')
    again.abort()
    await resumed
    const paths = inbox.received.map((r) => r.path)
    expect(paths).toHaveLength(100)
    expect(new Set(paths).size).toBe(100)
    for (const l of ledgers) l.close()
  } finally {
    await inbox.close()
  }
})
