/**
 * Rate limits on every auth surface and on writes (PDS_RATE_LIMITS_ENABLED):
 * a request over a limit is a 429 RateLimitExceeded with the ratelimit-*
 * headers; each limit trips and, once its window has passed, resets. The
 * reference PDS's numbers where it has them (createSession: 30 per 5 minutes
 * per identifier and address); the admin password and the bypass key are
 * not limited; X-Forwarded-For counts only from a trusted proxy (PDS_TRUST_PROXY).
 */
import { randomBytes } from 'node:crypto'
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { brief, request, sleep, xpost, type HttpResult } from './_util.ts'

const BYPASS_KEY = 'front-end-secret'
const WINDOW_MS = 2500

let defaults: TestNetwork
let short: TestNetwork

beforeAll(async () => {
  // no proxy trusted (by default, one on loopback would be, and this test's client is on loopback)
  defaults = await TestNetwork.create({
    relay: false,
    env: { PDS_RATE_LIMITS_ENABLED: 'true', PDS_RATE_LIMIT_BYPASS_KEY: BYPASS_KEY, PDS_TRUST_PROXY: 'false' },
  })
  // every limit small and short, so each can be seen tripping and resetting; the proxy trusted
  const w = (points: number) => [{ durationMs: WINDOW_MS, points }]
  const overrides = {
    'create-session': w(3),
    'create-account': w(2),
    'request-password-reset': w(2),
    'confirm-token': w(2),
    'request-email-token': w(2),
    'confirm-email-token': w(2),
    'create-app-password': w(2),
    'update-handle': w(2),
    'upload-blob': w(2),
    'repo-write-hour': w(9),
  }
  short = await TestNetwork.create({
    relay: false,
    env: { PDS_RATE_LIMITS_ENABLED: 'true', PDS_RATE_LIMIT_OVERRIDES: JSON.stringify(overrides), PDS_TRUST_PROXY: 'true' },
  })
}, 60_000)

afterAll(async () => {
  await defaults?.close()
  await short?.close()
})

const expectLimited = (r: HttpResult) => {
  expect(brief(r)).toMatch(/^429 /)
  expect(r.json).toMatchObject({ error: 'RateLimitExceeded' })
  expect(typeof r.json.message).toBe('string')
  expect(r.headers['ratelimit-remaining']).toBe('0')
  expect(Number(r.headers['ratelimit-limit'])).toBeGreaterThan(0)
  expect(Number(r.headers['ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000 - 1)
  expect(r.headers['ratelimit-policy']).toMatch(/^\d+;w=\d+/)
}

/** `allowed` calls answer something other than 429, the next is 429; after the window it is allowed again. */
const tripsAndResets = async (label: string, allowed: number, call: () => Promise<HttpResult>) => {
  for (let i = 0; i < allowed; i++) {
    const r = await call()
    expect({ label, i, status: r.status === 429 ? brief(r) : 'not limited' }).toEqual({ label, i, status: 'not limited' })
  }
  expectLimited(await call())
  await sleep(WINDOW_MS + 100)
  const again = await call()
  expect({ label, after: again.status === 429 ? brief(again) : 'not limited' }).toEqual({ label, after: 'not limited' })
}

test('60 wrong passwords for one account: 30 answer 401, then 429 with ratelimit headers; the right password is refused too', async () => {
  const alice = await defaults.createUser('alice')
  const results: number[] = []
  let last: HttpResult | undefined
  for (let i = 0; i < 60; i++) {
    last = await xpost(defaults.pds.url, 'com.atproto.server.createSession', { identifier: alice.handle, password: `wrong-${i}` })
    results.push(last.status)
  }
  expect(results.slice(0, 30)).toEqual(Array(30).fill(401))
  expect(results.slice(30)).toEqual(Array(30).fill(429))
  expectLimited(last!)
  expect(last!.headers['ratelimit-policy']).toBe('30;w=300')
  const right = await xpost(defaults.pds.url, 'com.atproto.server.createSession', { identifier: alice.handle, password: alice.password })
  expect(right.status).toBe(429)
  // the same identifier from a trusted front-end (bypass key) or with the admin password is not limited
  const viaFrontEnd = await xpost(defaults.pds.url, 'com.atproto.server.createSession', { identifier: alice.handle, password: alice.password }, undefined, { 'x-ratelimit-bypass': BYPASS_KEY })
  expect(brief(viaFrontEnd)).toMatch(/^200 /)
  const wrongKey = await xpost(defaults.pds.url, 'com.atproto.server.createSession', { identifier: alice.handle, password: alice.password }, undefined, { 'x-ratelimit-bypass': 'guess' })
  expect(wrongKey.status).toBe(429)
  const asAdmin = await xpost(defaults.pds.url, 'com.atproto.server.createSession', { identifier: alice.handle, password: alice.password }, undefined, defaults.adminAuthHeaders())
  expect(brief(asAdmin)).toMatch(/^200 /)
  // another account from the same address is unaffected
  const bob = await defaults.createUser('bob')
  const bobLogin = await xpost(defaults.pds.url, 'com.atproto.server.createSession', { identifier: bob.handle, password: bob.password })
  expect(brief(bobLogin)).toMatch(/^200 /)
  // with no proxy trusted, X-Forwarded-For does not make a new client
  const spoofed = await xpost(defaults.pds.url, 'com.atproto.server.createSession', { identifier: alice.handle, password: alice.password }, undefined, { 'x-forwarded-for': '203.0.113.7' })
  expect(spoofed.status).toBe(429)
})

test('createAccount, password reset and its confirmation trip and reset (per address; X-Forwarded-For trusted here)', async () => {
  let n = 0
  const newAccount = (ip: string) => () => {
    n++
    return xpost(short.pds.url, 'com.atproto.server.createAccount', { handle: `new${n}-${randomBytes(2).toString('hex')}.test`, email: `new${n}@example.com`, password: 'password-123' }, undefined, { 'x-forwarded-for': ip })
  }
  await tripsAndResets('createAccount', 2, newAccount('198.51.100.1'))
  // a trusted proxy's X-Forwarded-For is the client: another address has its own budget
  const other = await newAccount('198.51.100.2')()
  expect(brief(other)).toMatch(/^200 /)

  const carol = await short.createUser('carol')
  await tripsAndResets('requestPasswordReset', 2, () => xpost(short.pds.url, 'com.atproto.server.requestPasswordReset', { email: `${carol.handle.split('.')[0]}@example.com` }, undefined, { 'x-forwarded-for': '198.51.100.3' }))
  await tripsAndResets('resetPassword', 2, () => xpost(short.pds.url, 'com.atproto.server.resetPassword', { token: 'AAAAA-BBBBB', password: 'new-password-123' }, undefined, { 'x-forwarded-for': '198.51.100.4' }))
})

test("per-account limits: sign-in, email tokens, app passwords, handle, blobs and repo-write points trip and reset", async () => {
  const dave: TestUser = await short.createUser('dave')
  const token = dave.agent.session!.accessJwt
  const post = (nsid: string, body: unknown) => xpost(short.pds.url, nsid, body, token)

  await tripsAndResets('createSession', 3, () => xpost(short.pds.url, 'com.atproto.server.createSession', { identifier: dave.handle, password: 'wrong' }))
  await tripsAndResets('requestEmailConfirmation', 2, () => post('com.atproto.server.requestEmailConfirmation', undefined))
  await tripsAndResets('confirmEmail', 2, () => post('com.atproto.server.confirmEmail', { email: 'dave@example.com', token: 'AAAAA-BBBBB' }))
  let k = 0
  await tripsAndResets('createAppPassword', 2, () => post('com.atproto.server.createAppPassword', { name: `app ${k++}` }))
  await tripsAndResets('updateHandle', 2, () => post('com.atproto.identity.updateHandle', { handle: dave.handle }))
  await tripsAndResets('uploadBlob', 2, () =>
    request(`${short.pds.url}/xrpc/com.atproto.repo.uploadBlob`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: randomBytes(64),
    }),
  )
  // 9 points an hour here: three creates (3 points each), then the fourth is refused
  const create = () => post('com.atproto.repo.createRecord', { repo: dave.did, collection: 'com.example.record', record: { n: 1 } })
  await tripsAndResets('createRecord', 3, create)
  // a batch is counted by its writes: four creates (12 points) never fit
  await sleep(WINDOW_MS + 100)
  const batch = await post('com.atproto.repo.applyWrites', {
    repo: dave.did,
    writes: [0, 1, 2, 3].map((i) => ({ $type: 'com.atproto.repo.applyWrites#create', collection: 'com.example.record', value: { i } })),
  })
  expectLimited(batch)
  // (a refused request still counts against the window, as in the reference's limiter)
  await sleep(WINDOW_MS + 100)
  const small = await post('com.atproto.repo.applyWrites', {
    repo: dave.did,
    writes: [{ $type: 'com.atproto.repo.applyWrites#delete', collection: 'com.example.record', rkey: 'missing' }, { $type: 'com.atproto.repo.applyWrites#create', collection: 'com.example.record', value: { i: 9 } }],
  })
  expect(brief(small)).toMatch(/^(200|400) /)
})

test('the OAuth sign-in pages share the budgets: sign-in, sign-up and password reset, per address', async () => {
  const api = `${short.pds.url}/@atproto/oauth-provider/~api`
  const post = (path: string, ip: string) => () =>
    request(`${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
      body: JSON.stringify({ locale: 'en', username: 'dave.test', password: 'wrong', remember: false }),
    })
  const oauthLimited = (r: HttpResult) => {
    expect(brief(r)).toMatch(/^429 /)
    expect(r.json).toMatchObject({ error: 'RateLimitExceeded' })
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0)
  }
  for (const [label, path, allowed] of [
    ['sign-in', `${api}/sign-in`, 3],
    ['sign-up', `${api}/sign-up`, 2],
    ['reset-password-request', `${api}/reset-password-request`, 2],
  ] as const) {
    const call = post(path, `198.51.100.${label.length + 40}`)
    for (let i = 0; i < allowed; i++) {
      const r = await call()
      // refused by the sign-in API itself (no device session, no CSRF token), never by the limit
      expect({ label, i, status: r.status === 429 ? 429 : 'not limited' }).toEqual({ label, i, status: 'not limited' })
      expect(r.status).toBeGreaterThanOrEqual(400)
      expect(r.status).toBeLessThan(500)
    }
    oauthLimited(await call())
    // another address has its own budget
    expect((await post(path, '198.51.100.99')()).status).not.toBe(429)
  }
  await sleep(WINDOW_MS + 100)
  expect((await post(`${api}/sign-in`, '198.51.100.47')()).status).not.toBe(429)
})
