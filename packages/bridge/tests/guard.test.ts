/**
 * The guard in front of the inboxes, on a real HTTP server: bodies of a
 * known, bounded size, nothing from blocked instances, a per-instance rate
 * limit with Retry-After, and an accepted activity reviving its instance.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import express from 'express'
import { HttpServer } from '@atsuite/common'
import { envToConfig } from '../src/config.ts'
import { openBridgeDb, type BridgeDb } from '../src/db/index.ts'
import { DeliveryLedger } from '../src/fedify/delivery.ts'
import { inboxGuard } from '../src/guard.ts'

let dir: string
let db: BridgeDb
let http: HttpServer
let base: string
let ledger: DeliveryLedger

const signedBy = (host: string) => `keyId="https://${host}/users/someone#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AAAA"`
const post = (headers: Record<string, string>, body = '{}') => fetch(`${base}/ap/inbox`, { method: 'POST', headers: { 'content-type': 'application/activity+json', ...headers }, body })

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'atsuite-bridge-guard-'))
  db = await openBridgeDb(path.join(dir, 'bridge.sqlite'))
  const cfg = envToConfig({ BRIDGE_DATA_DIRECTORY: dir, BRIDGE_INSTANCE_RATE_LIMIT: '5', BRIDGE_MAX_ACTIVITY_BYTES: '1000', BRIDGE_BLOCKED_INSTANCES: 'spam.example' })
  ledger = new DeliveryLedger(db, cfg.delivery, 'test', async () => undefined)
  const app = express()
  app.use(inboxGuard(cfg, ledger))
  // what passes the guard: accepted (the signature check is Fedify's, tested on the whole network)
  app.post('/ap/inbox', (_req, res) => void res.status(202).end())
  http = new HttpServer(app)
  await http.listen(0, '127.0.0.1')
  base = `http://127.0.0.1:${http.port}`
})

afterAll(async () => {
  ledger.close()
  await http.close()
  await db.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test('over the rate limit an instance gets 429 with Retry-After; other instances are not affected', async () => {
  for (let i = 0; i < 5; i++) expect((await post({ signature: signedBy('busy.example') })).status).toBe(202)
  const limited = await post({ signature: signedBy('busy.example') })
  expect(limited.status).toBe(429)
  expect(await limited.json()).toMatchObject({ error: 'RateLimitExceeded' })
  const retryAfter = Number(limited.headers.get('retry-after'))
  expect(retryAfter).toBeGreaterThan(0)
  expect(retryAfter).toBeLessThanOrEqual(60)
  expect((await post({ signature: signedBy('quiet.example') })).status).toBe(202)
})

test('blocked instances (by the signature key host, any port) get 403; bodies over the limit 413', async () => {
  const blocked = await post({ signature: signedBy('spam.example:8443') })
  expect(blocked.status).toBe(403)
  expect(await blocked.json()).toMatchObject({ error: 'Blocked' })
  const big = await post({ signature: signedBy('quiet.example') }, JSON.stringify({ content: 'x'.repeat(2000) }))
  expect(big.status).toBe(413)
  expect(await big.json()).toMatchObject({ error: 'PayloadTooLarge' })
})

test('an accepted activity from a dead instance revives it for deliveries', async () => {
  const now = Date.now()
  db.sqlite.prepare('INSERT INTO instance (host, failingSince, deadSince, lastProbe) VALUES (?, ?, ?, ?)').run('back.example', now - 10_000, now - 5_000, now - 5_000)
  expect(ledger.instance('back.example')?.deadSince).not.toBeNull()
  expect((await post({ signature: signedBy('back.example') })).status).toBe(202)
  await new Promise((r) => setTimeout(r, 50))
  expect(ledger.instance('back.example')).toMatchObject({ deadSince: null, failingSince: null })
})
