/**
 * OAuth on our PDS, end to end: a third-party app built on
 * `@atproto/oauth-client-node` signs alice in through the PDS's sign-in and
 * consent pages (driven in headless Chromium, screenshots kept in
 * test-artifacts/oauth/), then writes to her repo with DPoP-bound tokens;
 * refresh rotates, a replayed refresh token revokes the session, signing out
 * revokes it, a token's scope is enforced; a web app with its own metadata
 * and key (private_key_jwt); the account page revoking an app; the emailed
 * sign-in code; hostile protocol input gets OAuth errors, never a 500.
 */
import { randomBytes, createHash } from 'node:crypto'
import { Agent } from '@atproto/api'
import type { OAuthSession } from '@atproto/oauth-client-node'
import type { Browser, BrowserContext } from 'puppeteer-core'
import { TestNetwork, latestMail, type TestUser } from '@atsuite/dev-env'
import {
  dpopForm,
  dpopProof,
  launchBrowser,
  newDpopKey,
  pageText,
  pressButton,
  raw,
  savedDpopKey,
  screenshot,
  startApp,
  submitPassword,
  waitForText,
  type Browserish,
  type OAuthApp,
  clickText,
  retype,
  startWebApp,
  type WebApp,
} from './_oauth.ts'

let net: TestNetwork
let alice: TestUser & { did: `did:${string}:${string}` }
let browser: Browser
/** alice's browser: the device the PDS remembers her on */
let device: BrowserContext
const apps: OAuthApp[] = []

const GENERIC = 'atproto transition:generic'
const newPost = (text: string) => ({ $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() })

const app = async (scope: string): Promise<OAuthApp> => {
  const a = await startApp(net, scope)
  apps.push(a)
  return a
}

/** Runs the browser part of a sign-in whose consent screen is showing, and hands the app its session. */
const approve = async (a: OAuthApp, page: import('puppeteer-core').Page, shot?: string): Promise<OAuthSession> => {
  // a device that does not remember alice yet asks for her password first
  if (/Sign in/.test(await waitForText(page, /Grant access to your account|Sign in/))) {
    await submitPassword(page, alice.password, { remember: true })
  }
  await waitForText(page, /Grant access to your account/)
  if (shot) await screenshot(page, shot)
  const callback = a.nextCallback()
  await pressButton(page, 'Authorize')
  const params = await callback
  expect(params.get('iss')).toBe(net.pds.url)
  const { session } = await a.client.callback(params)
  return session
}

let webApp: WebApp

beforeAll(async () => {
  webApp = await startWebApp({ host: 'app.example.com', name: 'Example App', scope: GENERIC })
  // the PDS reaches https://app.example.com through the app's loopback server (no DNS or TLS here)
  net = await TestNetwork.create({ appview: true, overrides: { oauthClientFetch: webApp.fetchFor } })
  webApp.attach(net)
  alice = (await net.createUser('alice')) as typeof alice
  await alice.agent.upsertProfile(() => ({ displayName: 'Alice Liddell' }))
  browser = await launchBrowser()
  device = await browser.createBrowserContext()
})

afterAll(async () => {
  await browser?.close()
  for (const a of apps) await a.close()
  await webApp?.close()
  await net?.close()
})

test('metadata: the PDS is its own authorization server', async () => {
  const resource = await raw(`${net.pds.url}/.well-known/oauth-protected-resource`, {})
  expect(resource.status).toBe(200)
  expect(resource.body).toMatchObject({ resource: net.pds.url, authorization_servers: [net.pds.url] })
  const as = await raw(`${net.pds.url}/.well-known/oauth-authorization-server`, {})
  expect(as.status).toBe(200)
  expect(as.body).toMatchObject({
    issuer: net.pds.url,
    pushed_authorization_request_endpoint: `${net.pds.url}/oauth/par`,
    token_endpoint: `${net.pds.url}/oauth/token`,
    require_pushed_authorization_requests: true,
    client_id_metadata_document_supported: true,
    code_challenge_methods_supported: ['S256'],
    grant_types_supported: expect.arrayContaining(['authorization_code', 'refresh_token']),
    token_endpoint_auth_methods_supported: expect.arrayContaining(['none', 'private_key_jwt']),
    protected_resources: [net.pds.url],
  })
  expect(as.body.dpop_signing_alg_values_supported).toContain('ES256')
  expect(as.body.scopes_supported).toEqual(expect.arrayContaining(['atproto', 'transition:generic', 'transition:chat.bsky']))
})

let generic: OAuthApp
let session: OAuthSession

test('an app signs alice in: wrong password shown, then sign-in, consent, code, and writes with the DPoP-bound token', async () => {
  generic = await app(GENERIC)
  const url = await generic.client.authorize(alice.handle, { scope: GENERIC })
  const page = await device.newPage()
  await page.goto(url.toString())
  await waitForText(page, /Sign in/)
  await screenshot(page, '1-sign-in')

  await submitPassword(page, 'not-her-password')
  const refused = await waitForText(page, /Wrong identifier or password/)
  expect(refused).toMatch(/Sign in/)
  await screenshot(page, '2-wrong-password')

  await submitPassword(page, alice.password, { remember: true })
  const consent = await waitForText(page, /Grant access to your account/)
  // the consent screen names the account and says in words what the app asks for
  expect(consent).toMatch(/alice\.test/)
  expect(consent).toMatch(/Create, update, and delete any public data/)
  session = await approve(generic, page, '3-consent')
  expect(session.did).toBe(alice.did)
  await waitForText(page, /Back in the app/)
  await screenshot(page, '4-back-in-the-app')

  // the device cookie: not readable by scripts, not sent cross-site
  const cookies = await page.cookies(net.pds.url)
  const deviceCookies = cookies.filter((c) => c.name === 'dev-id' || c.name === 'ses-id')
  expect(deviceCookies.map((c) => c.name).sort()).toEqual(['dev-id', 'ses-id'])
  for (const c of deviceCookies) {
    expect(c.httpOnly).toBe(true)
    expect(c.sameSite).toBe('Lax')
    // Secure on an https issuer; this test network's issuer is http://localhost
    expect(c.secure).toBe(net.pds.url.startsWith('https:'))
  }
  // the sign-in form's CSRF token rides in its own cookie
  expect(cookies.some((c) => c.name === 'csrf-token')).toBe(true)
  await page.close()

  const agent = new Agent(session)
  const created = await agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: newPost('hello over OAuth') })
  const rkey = created.data.uri.split('/').pop()!
  const read = await agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey })
  expect(read.data.value).toMatchObject({ text: 'hello over OAuth' })
  // it is in her signed repo, not just acknowledged
  expect(net.pds.ctx.repoReader.getRecord(alice.did, 'app.bsky.feed.post', rkey)).not.toBeNull()
  await agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey })
  await expect(agent.com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey })).rejects.toMatchObject({
    error: 'RecordNotFound',
  })
  expect((await agent.com.atproto.server.getSession()).data.did).toBe(alice.did)
})

test('refresh rotates the refresh token; replaying the old one revokes the session', async () => {
  const before = structuredClone((await generic.sessions.get(alice.did))!)
  const refreshed = await session.getTokenInfo(true)
  const after = (await generic.sessions.get(alice.did))!
  expect(after.tokenSet.refresh_token).not.toBe(before.tokenSet.refresh_token)
  expect(after.tokenSet.access_token).not.toBe(before.tokenSet.access_token)
  expect(refreshed.sub).toBe(alice.did)
  const agent = new Agent(session)
  await agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: newPost('after refresh') })

  // a stolen, already-used refresh token: refused, and the whole grant goes with it
  const thief = await generic.cloneWith(alice.did, before)
  await expect(thief.restore(alice.did, true)).rejects.toThrow()
  const token = after.tokenSet.access_token
  const key = await savedDpopKey(after)
  const url = `${net.pds.url}/xrpc/com.atproto.server.getSession`
  const probe = await raw(url, { headers: { authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', url, { accessToken: token }) } })
  const nonce = probe.headers.get('dpop-nonce') ?? undefined
  const res = await raw(url, { headers: { authorization: `DPoP ${token}`, dpop: await dpopProof(key, 'GET', url, { accessToken: token, nonce }) } })
  expect(res.status).toBe(401)
})

test('a remembered device offers the account; an app granted only posts cannot like, upload or read preferences', async () => {
  const scope = 'atproto repo:app.bsky.feed.post'
  const postsOnly = await app(scope)
  // no handle given: the app only knows the server, so the page lets her choose
  const url = await postsOnly.client.authorize(net.pds.url, { scope })
  const page = await device.newPage()
  await page.goto(url.toString())
  const chooser = await waitForText(page, /alice\.test/)
  expect(chooser).toMatch(/Alice Liddell/)
  await screenshot(page, '5-account-chooser')
  const clicked = await page.evaluate(() => {
    const doc = (globalThis as unknown as Browserish).document
    const el = [...doc.querySelectorAll('button, [role="button"], a')].find((b) => b.textContent?.includes('alice.test'))
    el?.click()
    return Boolean(el)
  })
  expect(clicked).toBe(true)
  const consent = await waitForText(page, /Grant access to your account/)
  expect(consent).toMatch(/Access specific parts of your Bluesky account/)
  const s = await approve(postsOnly, page, '6-consent-posts-only')
  await page.close()

  const agent = new Agent(s)
  const p = await agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: newPost('posts only') })
  await expect(
    agent.com.atproto.repo.createRecord({
      repo: alice.did,
      collection: 'app.bsky.feed.like',
      record: { $type: 'app.bsky.feed.like', subject: { uri: p.data.uri, cid: p.data.cid }, createdAt: new Date().toISOString() },
    }),
  ).rejects.toMatchObject({ status: 403, error: 'ScopeMissingError' })
  await expect(agent.com.atproto.repo.uploadBlob(new Uint8Array([1, 2, 3]), { encoding: 'image/png' })).rejects.toMatchObject({
    status: 403,
    error: 'ScopeMissingError',
  })
  await expect(agent.app.bsky.actor.getPreferences()).rejects.toMatchObject({ status: 403, error: 'ScopeMissingError' })
  // nor call the app view through the PDS (no rpc: permission for it)
  await expect(agent.app.bsky.feed.getTimeline()).rejects.toMatchObject({ status: 403, error: 'ScopeMissingError' })
  await expect(agent.app.bsky.actor.getSuggestions()).rejects.toMatchObject({ status: 403, error: 'ScopeMissingError' })
  // nor manage the account
  await expect(agent.com.atproto.server.createAppPassword({ name: 'sneaky' })).rejects.toMatchObject({ status: 403 })
  await expect(agent.com.atproto.identity.updateHandle({ handle: 'mallory.test' })).rejects.toMatchObject({ status: 403 })
  expect(net.pds.ctx.repoReader.listRecords(alice.did, { collection: 'app.bsky.feed.like' }).records).toHaveLength(0)
})

test('signing out revokes the token at once', async () => {
  const a = await app(GENERIC)
  const url = await a.client.authorize(alice.handle, { scope: GENERIC })
  const page = await device.newPage()
  await page.goto(url.toString())
  const s = await approve(a, page)
  await page.close()
  const copy = structuredClone((await a.sessions.get(alice.did))!)
  await new Agent(s).com.atproto.server.getSession()
  await s.signOut()
  const other = await a.cloneWith(alice.did, copy)
  const stale = await other.restore(alice.did, false)
  await expect(new Agent(stale).com.atproto.server.getSession()).rejects.toThrow()
})

test('hostile protocol input: each a clear OAuth error, never a 500', async () => {
  const a = await app(GENERIC)
  const par = `${net.pds.url}/oauth/par`
  const token = `${net.pds.url}/oauth/token`
  const key = await newDpopKey()
  const verifier = randomBytes(32).toString('base64url')
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  const parForm = {
    client_id: a.clientId,
    response_type: 'code',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    scope: GENERIC,
    state: 'x'.repeat(20),
    redirect_uri: a.redirectUri,
  }

  // a redirect URI the client's metadata does not list
  const badRedirect = await dpopForm(par, { ...parForm, redirect_uri: 'http://127.0.0.1:9/steal' }, key)
  expect(badRedirect.status).toBe(400)
  expect(badRedirect.body.error).toMatch(/invalid_request|invalid_redirect_uri/)
  // PKCE is required
  const { code_challenge: _c, code_challenge_method: _m, ...noPkce } = parForm
  const pkce = await dpopForm(par, noPkce, key)
  expect(pkce.status).toBe(400)
  expect(pkce.body.error).toBe('invalid_request')
  // a scope nobody defines
  const scope = await dpopForm(par, { ...parForm, scope: 'atproto launch:missiles' }, key)
  expect(scope.status).toBe(400)
  // a token request without DPoP
  const noDpop = await raw(token, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: 'cod-x', client_id: a.clientId, redirect_uri: a.redirectUri, code_verifier: verifier }).toString(),
  })
  expect([400, 401]).toContain(noDpop.status)
  expect(noDpop.body.error).toMatch(/invalid_dpop_proof|invalid_request/)

  // a real code: used by another client, then by its own, then again
  const url = await a.client.authorize(alice.handle, { scope: GENERIC })
  const page = await device.newPage()
  await page.goto(url.toString())
  await waitForText(page, /Grant access to your account/)
  const callback = a.nextCallback()
  await pressButton(page, 'Authorize')
  const params = await callback
  await page.close()
  const code = params.get('code')!
  const other = await app(GENERIC)
  const stolen = await dpopForm(token, { grant_type: 'authorization_code', code, client_id: other.clientId, redirect_uri: other.redirectUri, code_verifier: verifier }, key)
  expect(stolen.status).toBe(400)
  expect(stolen.body.error).toBe('invalid_grant')
  const reused = await dpopForm(token, { grant_type: 'authorization_code', code, client_id: a.clientId, redirect_uri: a.redirectUri, code_verifier: verifier }, key)
  expect(reused.status).toBe(400)
  expect(reused.body.error).toBe('invalid_grant')

  // DPoP on the resource server, with a live token of the posts-only app's kind
  const b = await app(GENERIC)
  const bUrl = await b.client.authorize(alice.handle, { scope: GENERIC })
  const bPage = await device.newPage()
  await bPage.goto(bUrl.toString())
  await approve(b, bPage)
  await bPage.close()
  const saved = (await b.sessions.get(alice.did))!
  const at = saved.tokenSet.access_token
  const own = await savedDpopKey(saved)
  const rsUrl = `${net.pds.url}/xrpc/com.atproto.server.getSession`
  const call = async (proof: string) => raw(rsUrl, { headers: { authorization: `DPoP ${at}`, dpop: proof } })
  const first = await call(await dpopProof(own, 'GET', rsUrl, { accessToken: at }))
  const nonce = first.headers.get('dpop-nonce') ?? undefined
  expect(nonce).toBeTruthy()
  // a wrong nonce: refused with a fresh one to retry with
  const wrongNonce = await call(await dpopProof(own, 'GET', rsUrl, { accessToken: at, nonce: 'not-a-nonce' }))
  expect(wrongNonce.status).toBe(401)
  expect(wrongNonce.headers.get('www-authenticate')).toMatch(/use_dpop_nonce/)
  // a proof from another key than the token is bound to
  const forged = await call(await dpopProof(await newDpopKey(), 'GET', rsUrl, { accessToken: at, nonce }))
  expect(forged.status).toBe(401)
  // the genuine proof works once, not twice
  const proof = await dpopProof(own, 'GET', rsUrl, { accessToken: at, nonce })
  const ok = await call(proof)
  expect(ok.status).toBe(200)
  expect(ok.body.did).toBe(alice.did)
  const replayed = await call(proof)
  expect(replayed.status).toBe(401)
  // a proof for another URL
  const elsewhere = await call(await dpopProof(own, 'GET', `${net.pds.url}/xrpc/com.atproto.repo.describeRepo`, { accessToken: at, nonce }))
  expect(elsewhere.status).toBe(401)
  // the token sent as a Bearer token (no proof at all)
  const bearer = await raw(rsUrl, { headers: { authorization: `Bearer ${at}` } })
  expect(bearer.status).toBe(401)
  for (const r of [wrongNonce, forged, replayed, elsewhere, bearer]) expect(typeof r.body.error).toBe('string')
})

test('the sign-in page loads nothing from anywhere but the PDS', async () => {
  const a = await app(GENERIC)
  const url = await a.client.authorize(alice.handle, { scope: GENERIC })
  const ctx = await browser.createBrowserContext()
  const page = await ctx.newPage()
  const origins = new Set<string>()
  page.on('request', (r) => {
    if (!r.url().startsWith('data:')) origins.add(new URL(r.url()).origin)
  })
  await page.goto(url.toString(), { waitUntil: 'networkidle0' })
  expect(await pageText(page)).toMatch(/Sign in/)
  expect([...origins]).toEqual([net.pds.url])
  await ctx.close()
})

test('a web app with its own client metadata and key (private_key_jwt) is named on the consent screen and works', async () => {
  const page = await device.newPage()
  const callback = await webApp.interceptRedirects(page)
  const url = await webApp.client.authorize(alice.handle, { scope: GENERIC })
  await page.goto(url.toString())
  const consent = await waitForText(page, /Grant access to your account/)
  // the app is named as its metadata names it, with the site it comes from
  expect(consent).toMatch(/Example App|app\.example\.com/)
  await screenshot(page, '7-consent-web-app')
  await pressButton(page, 'Authorize')
  const params = await callback()
  await page.close()
  const { session: s } = await webApp.client.callback(params)
  expect(s.did).toBe(alice.did)
  // the PDS fetched the metadata document and the key set it points to
  expect(webApp.served.get('/client-metadata.json')).toBeGreaterThan(0)
  expect(webApp.served.get('/jwks.json')).toBeGreaterThan(0)
  const agent = new Agent(s)
  const created = await agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'app.bsky.feed.post', record: newPost('from a web app') })
  expect(created.data.uri).toMatch(/^at:\/\//)
  // app.bsky.* goes through the PDS to the app view, as the app's user
  await net.processAll()
  const feed = await agent.app.bsky.feed.getAuthorFeed({ actor: alice.did })
  expect(feed.data.feed.map((f) => f.post.uri)).toContain(created.data.uri)
  // a refresh authenticates the app with its key again
  await s.getTokenInfo(true)
  await agent.com.atproto.server.getSession()
})

test('the account page lists the apps alice signed in to, and revoking one ends its session', async () => {
  const a = await app(GENERIC)
  const url = await a.client.authorize(alice.handle, { scope: GENERIC })
  const signIn = await device.newPage()
  await signIn.goto(url.toString())
  const s = await approve(a, signIn)
  await signIn.close()
  await new Agent(s).com.atproto.server.getSession()

  const page = await device.newPage()
  await page.goto(`${net.pds.url}/account`)
  const text = await waitForText(page, /alice\.test/)
  await screenshot(page, '8-account-page')
  expect(text).toMatch(/Alice Liddell/)
  await clickText(page, 'Apps')
  await waitForText(page, /Apps that can use your account/)
  await screenshot(page, '9-apps')
  await clickText(page, 'Details')
  const details = await waitForText(page, /This app has access to your account with the following permissions/)
  expect(details).toMatch(/Create, update, and delete any public data/)
  await screenshot(page, '10-app-details')
  await pressButton(page, 'Revoke access')
  // a confirmation, if the page asks for one
  await new Promise((r) => setTimeout(r, 500))
  if (/Are you sure|Revoke\?|confirm/i.test(await pageText(page))) await pressButton(page, 'Revoke')
  await screenshot(page, '11-app-revoked')
  await page.close()
  // the app's session is gone: its token is refused and cannot be refreshed
  await expect(new Agent(s).com.atproto.server.getSession()).rejects.toThrow()
})

test('an account with emailed sign-in codes is asked for the code after its password', async () => {
  const bob = await net.createUser('bob')
  const server = bob.agent.com.atproto.server
  await server.requestEmailConfirmation()
  await server.confirmEmail({ email: 'bob@example.com', token: (await latestMail(net.pds, 'bob@example.com', 'confirm_email'))!.token! })
  await server.requestEmailUpdate()
  await server.updateEmail({ email: 'bob@example.com', emailAuthFactor: true, token: (await latestMail(net.pds, 'bob@example.com', 'update_email'))!.token! })

  const a = await app(GENERIC)
  const url = await a.client.authorize(bob.handle, { scope: GENERIC })
  const ctx = await browser.createBrowserContext()
  const page = await ctx.newPage()
  await page.goto(url.toString())
  await submitPassword(page, bob.password)
  const asked = await waitForText(page, /Check your b\*\*\*b@example\.com email for a login code/)
  expect(asked).toMatch(/2FA Confirmation/)
  await screenshot(page, '12-email-code')
  const CODE = 'input[autocomplete="one-time-code"]'
  await page.type(CODE, 'AAAAA-BBBBB')
  await page.keyboard.press('Enter')
  // refused (the page words every refusal of this form the same way)
  await waitForText(page, /The data you submitted is invalid/)
  await screenshot(page, '13-email-code-wrong')
  const code = (await latestMail(net.pds, 'bob@example.com', 'sign_in'))!.token!
  await retype(page, CODE, code)
  await page.keyboard.press('Enter')
  await waitForText(page, /Grant access to your account/)
  const callback = a.nextCallback()
  await pressButton(page, 'Authorize')
  const { session: s } = await a.client.callback(await callback)
  expect(s.did).toBe(bob.did)
  await ctx.close()
})
