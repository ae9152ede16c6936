/**
 * Client-side helpers for the relay tests: raw consumers of a relay's
 * stream, requestCrawl and XRPC queries over plain fetch. The servers come
 * from dev-env (`TestNetwork`, or `testRelayConfig`/`startTestRelay` for a
 * relay in front of fake hosts only).
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { FakeAccount, FakePds, startTestRelay, testRelayConfig } from '@atsuite/dev-env'
import { PlcServer } from '@atsuite/plc'
import type { RelayServer } from '@atsuite/relay'
import { RawConsumer } from './_stream.ts'

export const subscribeUrl = (relay: RelayServer, cursor?: number): string =>
  `ws://localhost:${relay.port}/xrpc/com.atproto.sync.subscribeRepos${cursor === undefined ? '' : `?cursor=${cursor}`}`

/** A raw consumer of the relay's stream, open before it is returned. */
export const consume = async (relay: RelayServer, cursor?: number): Promise<RawConsumer> => {
  const c = new RawConsumer(subscribeUrl(relay, cursor))
  await c.opened
  return c
}

export const requestCrawl = async (relay: RelayServer, hostname: string): Promise<Response> =>
  fetch(`${relay.url}/xrpc/com.atproto.sync.requestCrawl`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ hostname }),
  })

export const xrpcGet = async (base: string, nsid: string, params: Record<string, string> = {}): Promise<{ status: number; body: any }> => {
  const res = await fetch(`${base}/xrpc/${nsid}?${new URLSearchParams(params)}`)
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON
  }
  return { status: res.status, body }
}

export const pdsHostname = (pds: { port: number }): string => `localhost:${pds.port}`

/**
 * A relay crawling one fake host that hosts one account (`alice`, announced
 * with #sync): the setup of the tests that drive the relay through a host
 * they control. `close()` stops everything and removes the temp directory.
 */
export type FakeHostRelay = {
  dir: string
  plc: PlcServer
  fake: FakePds
  relay: RelayServer
  alice: FakeAccount
  close(): Promise<void>
}

export const fakeHostRelay = async (name: string): Promise<FakeHostRelay> => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `relay-${name}-`))
  const plc = await PlcServer.create({ port: 0, host: '127.0.0.1', dbLocation: path.join(dir, 'plc.sqlite') })
  await plc.start()
  const fake = await FakePds.start()
  const alice = await FakeAccount.create(plc.url, fake.url)
  fake.repos.set(alice.did, alice)
  const relay = await startTestRelay(testRelayConfig(plc.url, path.join(dir, 'relay')))
  const crawl = await requestCrawl(relay, fake.hostname)
  if (crawl.status !== 200) throw new Error(`requestCrawl: ${crawl.status}`)
  await fake.waitForSubscribers(1)
  fake.emit('#sync', await alice.syncBody())
  return {
    dir,
    plc,
    fake,
    relay,
    alice,
    async close() {
      await relay.destroy()
      await fake.close()
      await plc.destroy()
      await fs.rm(dir, { recursive: true, force: true })
    },
  }
}
