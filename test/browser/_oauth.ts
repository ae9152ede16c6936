/**
 * A third-party app for the OAuth tests: `@atproto/oauth-client-node` with a
 * loopback client id (the atproto OAuth spec's development clients) and its
 * redirect endpoint on a loopback HTTP server; and the person, driving the
 * PDS's sign-in pages in headless Chromium (Debian's `chromium`).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import {
  JoseKey,
  NodeOAuthClient,
  atprotoLoopbackClientMetadata,
  buildAtprotoLoopbackClientId,
  type NodeSavedSession,
  type OAuthClientMetadataInput,
  type NodeSavedState,
} from '@atproto/oauth-client-node'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import type { TestNetwork } from '@atsuite/dev-env'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** Screenshots of each page, kept for a person to look at (gitignored). */
export const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts/oauth')

/** The little of a page's DOM the tests touch, typed here (the project's TypeScript has no DOM library). */
type Elementish = { textContent: string | null; disabled?: boolean; click(): void }
export type Browserish = { document: { body: { innerText: string } | null; querySelectorAll(selector: string): Iterable<Elementish> } }

class MemoryStore<V> {
  readonly map = new Map<string, V>()
  async get(key: string): Promise<V | undefined> {
    return this.map.get(key)
  }
  async set(key: string, value: V): Promise<void> {
    this.map.set(key, value)
  }
  async del(key: string): Promise<void> {
    this.map.delete(key)
  }
}

/** An app's OAuth client on the test network: handles resolve through the PDS (no DNS here), DIDs through its PLC. */
const oauthClient = (net: TestNetwork, clientMetadata: OAuthClientMetadataInput, sessions: MemoryStore<NodeSavedSession>, keyset?: JoseKey[]): NodeOAuthClient =>
  new NodeOAuthClient({
    clientMetadata,
    keyset,
    stateStore: new MemoryStore<NodeSavedState>(),
    sessionStore: sessions,
    handleResolver: net.pds.url,
    plcDirectoryUrl: net.plc.url,
    allowHttp: true,
    requestLock: async (_name, fn) => fn(),
  })

export type OAuthApp = {
  client: NodeOAuthClient
  clientId: string
  redirectUri: string
  sessions: MemoryStore<NodeSavedSession>
  /** the query of the next request to the redirect URI */
  nextCallback(): Promise<URLSearchParams>
  /** another client instance over a copy of a saved session (what a second process of the app would hold) */
  cloneWith(did: string, saved: NodeSavedSession): Promise<NodeOAuthClient>
  close(): Promise<void>
}

/** An app that asks for `scope`, its redirect endpoint listening on 127.0.0.1. */
export const startApp = async (net: TestNetwork, scope: string): Promise<OAuthApp> => {
  let waiting: ((q: URLSearchParams) => void) | null = null
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    res.setHeader('content-type', 'text/html')
    res.end('<!doctype html><title>Signed in</title><p>Back in the app.</p>')
    if (url.pathname === '/callback') waiting?.(url.searchParams)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`
  const clientId = buildAtprotoLoopbackClientId({ scope, redirect_uris: [redirectUri] })
  const make = (sessions: MemoryStore<NodeSavedSession>) => oauthClient(net, atprotoLoopbackClientMetadata(clientId), sessions)
  const sessions = new MemoryStore<NodeSavedSession>()
  return {
    client: make(sessions),
    clientId,
    redirectUri,
    sessions,
    nextCallback: () => new Promise((resolve) => (waiting = resolve)),
    async cloneWith(did, saved) {
      const copy = new MemoryStore<NodeSavedSession>()
      await copy.set(did, structuredClone(saved))
      return make(copy)
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

/**
 * A web app on the internet, as the PDS sees it: its client metadata and
 * JWKS at https://<host>/…, its own key for `private_key_jwt`. The documents
 * are served by a loopback HTTP server; `fetchFor` is the PDS's fetch that
 * reaches `https://<host>` there (the test network has no DNS nor TLS), and
 * the browser's visit to the redirect URI is caught by `interceptRedirects`.
 */
export type WebApp = {
  host: string
  clientId: string
  client: NodeOAuthClient
  sessions: MemoryStore<NodeSavedSession>
  /** what the app's server has served: path → times */
  served: Map<string, number>
  fetchFor: typeof globalThis.fetch
  /** the app's OAuth client, once the network it talks to exists */
  attach(net: TestNetwork): void
  interceptRedirects(page: Page): Promise<() => Promise<URLSearchParams>>
  close(): Promise<void>
}

export const startWebApp = async (opts: { host: string; name: string; scope: string }): Promise<WebApp> => {
  const origin = `https://${opts.host}`
  const key = await JoseKey.generate(['ES256'], 'app-key-1')
  const metadata: OAuthClientMetadataInput = {
    client_id: `${origin}/client-metadata.json`,
    client_name: opts.name,
    client_uri: origin,
    redirect_uris: [`${origin}/callback`],
    scope: opts.scope,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    application_type: 'web',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    dpop_bound_access_tokens: true,
    jwks_uri: `${origin}/jwks.json`,
  }
  const served = new Map<string, number>()
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', origin).pathname
    served.set(p, (served.get(p) ?? 0) + 1)
    res.setHeader('content-type', 'application/json')
    if (p === '/client-metadata.json') return res.end(JSON.stringify(metadata))
    if (p === '/jwks.json') return res.end(JSON.stringify({ keys: [key.publicJwk] }))
    res.statusCode = 404
    res.end('{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const local = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const fetchFor: typeof globalThis.fetch = async (input, init) => {
    const req = new Request(input, init)
    const url = new URL(req.url)
    if (url.origin !== origin) throw new TypeError(`no route to ${url.origin} from this test network`)
    return globalThis.fetch(new Request(`${local}${url.pathname}${url.search}`, req), { redirect: 'manual' })
  }
  const sessions = new MemoryStore<NodeSavedSession>()
  const webApp: WebApp = {
    host: opts.host,
    clientId: metadata.client_id!,
    client: undefined as unknown as NodeOAuthClient,
    sessions,
    served,
    fetchFor,
    attach(net) {
      webApp.client = oauthClient(net, metadata, sessions, [key])
    },
    async interceptRedirects(page) {
      let got: (q: URLSearchParams) => void = () => undefined
      const next = new Promise<URLSearchParams>((resolve) => (got = resolve))
      await page.setRequestInterception(true)
      page.on('request', (r) => {
        const url = new URL(r.url())
        if (url.origin !== origin) return void r.continue()
        got(url.searchParams)
        void r.respond({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Example App</title><p>Back in the app.</p>' })
      })
      return () => next
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
  return webApp
}

export const launchBrowser = (): Promise<Browser> =>
  puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] })

export const screenshot = async (page: Page, name: string): Promise<void> => {
  fs.mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) })
}

const PASSWORD = 'input[autocomplete="current-password"]'

/** The visible text of the page (what a person reads); empty while a navigation has no body yet. */
export const pageText = (page: Page): Promise<string> => page.evaluate(() => (globalThis as unknown as Browserish).document.body?.innerText ?? '')

/** Waits until the page's text matches. */
export const waitForText = async (page: Page, re: RegExp, timeout = 10_000): Promise<string> => {
  const deadline = Date.now() + timeout
  for (;;) {
    // a navigation under way (the redirect back to the app) can destroy the page's context mid-read: read again
    const text = await pageText(page).catch((err: unknown) => {
      if (/context was destroyed|navigation/i.test(String(err))) return ''
      throw err
    })
    if (re.test(text)) return text
    if (Date.now() > deadline) throw new Error(`page never showed ${re}; it shows:\n${text}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Replaces what a field holds with `text`, typed key by key (select all, delete, type). */
export const retype = async (page: Page, selector: string, text: string): Promise<void> => {
  await page.focus(selector)
  await page.keyboard.down('Control')
  await page.keyboard.press('KeyA')
  await page.keyboard.up('Control')
  await page.keyboard.press('Backspace')
  await page.type(selector, text)
}

/** Types the password into the sign-in form (the handle is already filled from the app's login hint) and submits. */
export const submitPassword = async (page: Page, password: string, opts: { remember?: boolean } = {}): Promise<void> => {
  await page.waitForSelector(PASSWORD, { visible: true })
  await retype(page, PASSWORD, password)
  if (process.env.DEBUG_OAUTH_PAGES) console.log('password field holds', await page.$eval(PASSWORD, (el) => (el as unknown as { value: string }).value.length), 'characters')
  if (opts.remember) {
    const checked = await page.$eval('input[name="remember"]', (el) => (el as unknown as { checked: boolean }).checked)
    if (!checked) await page.click('input[name="remember"]')
  }
  // the keyboard, as a person without a mouse would
  await page.focus(PASSWORD)
  await page.keyboard.press('Enter')
}

/** Clicks the first link or button whose text is `label` (navigation in the account pages). */
export const clickText = async (page: Page, label: string): Promise<void> => {
  const clicked = await page.evaluate((l) => {
    const doc = (globalThis as unknown as Browserish).document
    const el = [...doc.querySelectorAll('a, button')].find((b) => b.textContent?.trim() === l)
    el?.click()
    return Boolean(el)
  }, label)
  if (!clicked) throw new Error(`nothing to click labelled ${label}:\n${await pageText(page)}`)
}

/** Presses a button by its visible label. */
export const pressButton = async (page: Page, label: string): Promise<void> => {
  const handle = await page.waitForFunction(
    (l) =>
      [...(globalThis as unknown as Browserish).document.querySelectorAll('button')].find((b) => b.textContent?.trim() === l && !b.disabled) ??
      null,
    { timeout: 10_000 },
    label,
  )
  await (handle.asElement() as unknown as { click(): Promise<void> }).click()
}

// ---- raw protocol, for what a well-behaved client never sends ------------

export type DpopKey = { privateKey: KeyObject; jwk: JsonWebKey; alg: 'ES256' | 'ES256K' }

export const newDpopKey = async (): Promise<DpopKey> => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { privateKey, jwk: publicKey.export({ format: 'jwk' }), alg: 'ES256' }
}

/** The DPoP key an app's saved session holds (its private JWK). */
export const savedDpopKey = async (saved: NodeSavedSession): Promise<DpopKey> => {
  const priv = saved.dpopJwk as JsonWebKey
  const privateKey = createPrivateKey({ key: priv, format: 'jwk' })
  const alg = priv.crv === 'secp256k1' ? 'ES256K' : 'ES256'
  return { privateKey, jwk: createPublicKey(privateKey).export({ format: 'jwk' }), alg }
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')

/** A DPoP proof JWT (RFC 9449), signed here with node:crypto so tests can make any proof a client could. */
export const dpopProof = async (
  key: DpopKey,
  htm: string,
  htu: string,
  opts: { nonce?: string; accessToken?: string; jti?: string } = {},
): Promise<string> => {
  const header = b64({ typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk })
  const payload = b64({
    jti: opts.jti ?? randomUUID(),
    htm,
    htu,
    iat: Math.floor(Date.now() / 1000),
    ...(opts.nonce ? { nonce: opts.nonce } : {}),
    ...(opts.accessToken ? { ath: createHash('sha256').update(opts.accessToken).digest('base64url') } : {}),
  })
  const sig = sign('sha256', Buffer.from(`${header}.${payload}`), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
  return `${header}.${payload}.${sig.toString('base64url')}`
}

export type RawResponse = { status: number; headers: Headers; body: any }

export const raw = async (url: string, init: RequestInit): Promise<RawResponse> => {
  const res = await fetch(url, init)
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, headers: res.headers, body }
}

/** A form POST with a DPoP proof, answering the server's first `use_dpop_nonce` once as a client would. */
export const dpopForm = async (url: string, form: Record<string, string>, key: DpopKey): Promise<RawResponse> => {
  const send = async (nonce?: string) =>
    raw(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await dpopProof(key, 'POST', url, { nonce }) },
      body: new URLSearchParams(form).toString(),
    })
  const first = await send()
  const nonce = first.headers.get('dpop-nonce')
  if (first.body?.error === 'use_dpop_nonce' && nonce) return send(nonce)
  return first
}
