/**
 * A relay on loopback for the tests, beside dev-env's TestNetwork (PLC + PDS):
 * temp data directory, fast reconnect backoff, admin password `admin`.
 * Configuration goes through `envToConfig` like the real binary, then typed
 * overrides (buffer and frame limits) on top.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { RelayServer, envToConfig, type RelayConfig } from '@atsuite/relay'
import type { TestNetwork } from '@atsuite/dev-env'
import { RawConsumer, waitFor } from './_stream.ts'

export const ADMIN_PASSWORD = 'admin'

export const tempDir = (prefix: string): Promise<string> => fs.mkdtemp(path.join(os.tmpdir(), `relay-${prefix}-`))

export const relayConfig = (plcUrl: string, dataDirectory: string, env: Record<string, string> = {}, overrides: Partial<RelayConfig> = {}): RelayConfig => ({
  ...envToConfig({
    RELAY_PORT: '0',
    RELAY_HOST: '127.0.0.1',
    RELAY_DATA_DIRECTORY: dataDirectory,
    RELAY_PLC_URL: plcUrl,
    RELAY_ALLOW_INSECURE_HOSTS: 'true',
    RELAY_ADMIN_PASSWORD: ADMIN_PASSWORD,
    RELAY_BACKOFF_MAX_MS: '500',
    ...env,
  }),
  ...overrides,
})

export const startRelay = async (cfg: RelayConfig): Promise<RelayServer> => {
  const relay = await RelayServer.create(cfg)
  await relay.start()
  return relay
}

export const adminHeaders = (password = ADMIN_PASSWORD): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`,
})

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

type Poster = { agent: { post(r: { text: string; createdAt: string }): Promise<unknown> }; did: string }

/**
 * Makes sure the relay is subscribed to the PDS: posts as `user` until one
 * of its commits is in the relay's log (a relay subscribing live from the
 * host's current position would otherwise miss what came before).
 */
export const waitUntilRelaying = async (relay: RelayServer, user: Poster, timeoutMs = 20_000): Promise<void> => {
  const consumer = await consume(relay, 0)
  try {
    let n = 0
    await waitFor(
      async () => {
        if (consumer.of('#commit', user.did).length > 0) return true
        await user.agent.post({ text: `warm-up ${n++}`, createdAt: new Date().toISOString() })
        await new Promise((r) => setTimeout(r, 200))
        return consumer.of('#commit', user.did).length > 0
      },
      timeoutMs,
      `a commit of ${user.did} relayed`,
    )
  } finally {
    consumer.close()
  }
}

export type { TestNetwork }
