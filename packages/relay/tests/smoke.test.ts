/**
 * Smoke test of the relay on its own: a TestNetwork (PLC + PDS), a relay
 * verifying on the main thread (verifyThreads 0, the path the other suites do
 * not take), requestCrawl of the PDS, writes read back through the relay with
 * @atproto/sync's verifying Firehose — every write once.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { Firehose, type Event } from '@atproto/sync'
import { IdResolver } from '@atproto/identity'
import { TestNetwork } from '@atsuite/dev-env'
import { RelayServer, envToConfig } from '@atsuite/relay'

let net: TestNetwork
let relay: RelayServer
let dir: string

beforeAll(async () => {
  net = await TestNetwork.create()
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relay-smoke-'))
  const cfg = envToConfig({
    RELAY_PORT: '0',
    RELAY_DATA_DIRECTORY: dir,
    RELAY_PLC_URL: net.plc.url,
    RELAY_ALLOW_INSECURE_HOSTS: 'true',
    RELAY_ADMIN_PASSWORD: 'smoke',
    RELAY_VERIFY_THREADS: '0',
  })
  relay = await RelayServer.create(cfg)
  await relay.start()
})

afterAll(async () => {
  await relay?.destroy()
  await net?.close()
  if (dir) await fs.rm(dir, { recursive: true, force: true })
})

test('requestCrawl, then every write arrives once through the relay, verified', async () => {
  const bad = await fetch(`${relay.url}/xrpc/com.atproto.sync.requestCrawl`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hostname: 'localhost:1' }),
  })
  expect(bad.status).toBe(400)
  expect(((await bad.json()) as { message: string }).message).toMatch(/unreachable/)

  const res = await fetch(`${relay.url}/xrpc/com.atproto.sync.requestCrawl`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hostname: `http://localhost:${net.pds.port}/` }),
  })
  expect(res.status).toBe(200)
  const host = `localhost:${net.pds.port}`
  expect(relay.ctx.hosts.status(host)?.status).toBe('active')

  const users = await Promise.all(['smka', 'smkb'].map((n) => net.createUser(n)))
  const expected = new Set<string>()
  for (let i = 0; i < 3; i++) {
    for (const u of users) expected.add((await u.agent.post({ text: `smoke ${i}`, createdAt: new Date().toISOString() })).uri)
  }

  const seen: Event[] = []
  const errors: Error[] = []
  const firehose = new Firehose({
    service: `ws://localhost:${relay.port}`,
    idResolver: new IdResolver({ plcUrl: net.plc.url, fetch: globalThis.fetch }),
    getCursor: () => 0,
    handleEvent: (evt) => void seen.push(evt),
    onError: (err) => void errors.push(err),
  })
  void firehose.start()
  const creates = () => seen.filter((e) => e.event === 'create').map((e) => (e as { uri: { toString(): string } }).uri.toString())
  try {
    const deadline = Date.now() + 15_000
    while (creates().filter((u) => expected.has(u)).length < expected.size && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50))
    }
    await new Promise((r) => setTimeout(r, 200))
  } finally {
    await firehose.destroy()
  }
  expect(errors).toEqual([])
  const got = creates()
  expect(got.length).toBe(new Set(got).size)
  expect(new Set(got)).toEqual(expected)
  const status = relay.ctx.hosts.status(host)!
  expect(Object.values(status.dropped).every((n) => n === 0)).toBe(true)
  expect(status.accountCount).toBe(2)
})
