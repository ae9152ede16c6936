/**
 * Client-side helpers for the relay tests: raw consumers of a relay's
 * stream, requestCrawl and XRPC queries over plain fetch. The servers come
 * from dev-env (`TestNetwork`, or `testRelayConfig`/`startTestRelay` for a
 * relay in front of fake hosts only).
 */
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
