/**
 * Sessions and accounts: token rotation and refusal, app passwords, service
 * auth, invites, handles, deactivation, password reset and account deletion.
 * Session tokens are checked over raw HTTP so every status and error name is
 * the server's own, not a client's retry.
 */
import fs from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { SignJWT, decodeJwt } from 'jose'
import { IdResolver } from '@atproto/identity'
import { verifyJwt } from '@atproto/xrpc-server'
import { TestNetwork } from '@atsuite/dev-env'

// ---------------------------------------------------------------- helpers

const JWT_SECRET = randomBytes(32).toString('hex')
const ACCESS_SCOPE = 'com.atproto.access'

type User = Awaited<ReturnType<TestNetwork['createUser']>>
type Reply = { status: number; body: any }
type Session = { did: string; handle: string; accessJwt: string; refreshJwt: string; email?: string; active?: boolean; status?: string }

let net: TestNetwork

/** One XRPC call over plain fetch: GET with params, or POST with an optional JSON body. */
const xrpc = async (
  nsid: string,
  opts: { method?: 'GET' | 'POST'; token?: string; body?: unknown; params?: Record<string, string>; on?: TestNetwork } = {},
): Promise<Reply> => {
  const url = new URL(`/xrpc/${nsid}`, (opts.on ?? net).pds.url)
  for (const [k, v] of Object.entries(opts.params ?? {})) url.searchParams.set(k, v)
  const headers: Record<string, string> = {}
  if (opts.token) headers.authorization = `Bearer ${opts.token}`
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url, {
    method: opts.method ?? (opts.body !== undefined ? 'POST' : 'GET'),
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  })
  const text = await res.text()
  let body: unknown = text
  try {
    body = text ? JSON.parse(text) : undefined
  } catch {
    // not JSON (a CAR, say): keep the text
  }
  return { status: res.status, body }
}

const login = async (identifier: string, password: string, on?: TestNetwork): Promise<Session> => {
  const res = await xrpc('com.atproto.server.createSession', { body: { identifier, password }, on })
  expect(res.status).toBe(200)
  return res.body as Session
}

const refresh = (refreshJwt: string) => xrpc('com.atproto.server.refreshSession', { method: 'POST', token: refreshJwt })
const whoami = (accessJwt: string) => xrpc('com.atproto.server.getSession', { token: accessJwt })
const getRepo = (did: string) => xrpc('com.atproto.sync.getRepo', { params: { did } })

const expectError = (res: Reply, status: number | number[], error?: string | string[]) => {
  expect([status].flat()).toContain(res.status)
  expect(typeof res.body?.error).toBe('string')
  if (error !== undefined) expect([error].flat()).toContain(res.body.error)
}

/** Awaits a rejected client call and checks its HTTP status and lexicon error name. */
const expectXrpcError = async (p: Promise<unknown>, status: number | number[], error?: string | string[]) => {
  const err = await p.then(
    () => {
      throw new Error(`expected the call to fail with ${String(status)} ${String(error)}`)
    },
    (e: unknown) => e as { status?: number; error?: string },
  )
  expect([status].flat()).toContain(err.status)
  expect(typeof err.error).toBe('string')
  if (error !== undefined) expect([error].flat()).toContain(err.error)
}

/** An access token shaped exactly like the PDS's own, signed with `secret`. */
const signAccessToken = (did: string, secret: string, opts: { iat: number; exp: number; typ?: string }) =>
  new SignJWT({ scope: ACCESS_SCOPE })
    .setProtectedHeader({ alg: 'HS256', typ: opts.typ ?? 'at+jwt' })
    .setAudience(net.pds.ctx.cfg.service.did)
    .setSubject(did)
    .setIssuedAt(opts.iat)
    .setExpirationTime(opts.exp)
    .sign(new TextEncoder().encode(secret))

type Mail = { to: string; kind: string; token?: string; subject: string; text: string }

/** The newest mail of a kind sent to an address, read from the PDS's mail directory. */
const latestMail = async (to: string, kind: string, on: TestNetwork = net): Promise<Mail> => {
  const dir = on.pds.ctx.cfg.email.mailDirectory
  const names = (await fs.readdir(dir)).filter((n) => n.endsWith('.json')).sort()
  const mails = await Promise.all(names.map(async (n) => JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')) as Mail))
  const mine = mails.filter((m) => m.to === to && m.kind === kind)
  expect(mine.length).toBeGreaterThan(0)
  return mine[mine.length - 1]
}

/** GET /.well-known/atproto-did as if reached under `host` (fetch may not set Host). */
const wellKnownDid = (host: string): Promise<{ status: number; text: string }> =>
  new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port: net.pds.port, path: '/.well-known/atproto-did', headers: { host } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      },
    )
    req.on('error', reject)
  })

const nowS = () => Math.floor(Date.now() / 1000)

// ---------------------------------------------------------------- network

let alice: User
let bob: User

beforeAll(async () => {
  net = await TestNetwork.create({ secrets: { jwtSecret: JWT_SECRET } })
  alice = await net.createUser('alice')
  bob = await net.createUser('bob')
})

afterAll(async () => {
  await net?.close()
})

// ---------------------------------------------------------------- sessions

describe('sessions', () => {
  test('refreshSession rotates; the new tokens work; the old one works again within grace and gives the same successor', async () => {
    const s0 = await login(alice.handle, alice.password)
    const r1 = await refresh(s0.refreshJwt)
    expect(r1.status).toBe(200)
    expect(r1.body.did).toBe(alice.did)
    expect(r1.body.refreshJwt).not.toBe(s0.refreshJwt)
    expect((await whoami(r1.body.accessJwt)).body.did).toBe(alice.did)

    // the old token again (a client that lost the first response): same successor
    const again = await refresh(s0.refreshJwt)
    expect(again.status).toBe(200)
    expect(decodeJwt(again.body.refreshJwt).jti).toBe(decodeJwt(r1.body.refreshJwt).jti)

    // the successor is itself a working refresh token
    const r2 = await refresh(r1.body.refreshJwt)
    expect(r2.status).toBe(200)
    expect(decodeJwt(r2.body.refreshJwt).jti).not.toBe(decodeJwt(r1.body.refreshJwt).jti)
    expect((await whoami(r2.body.accessJwt)).status).toBe(200)
  })

  test('deleteSession revokes the refresh token', async () => {
    const s = await login(alice.handle, alice.password)
    const del = await xrpc('com.atproto.server.deleteSession', { method: 'POST', token: s.refreshJwt })
    expect(del.status).toBe(200)
    expectError(await refresh(s.refreshJwt), 401)
  })

  test('deleteSession ends the whole rotation chain, whichever of its tokens is presented', async () => {
    // logging out with the current token: the predecessor (still in grace) cannot revive it
    const a = await login(alice.handle, alice.password)
    const b = (await refresh(a.refreshJwt)).body as Session
    expect((await xrpc('com.atproto.server.deleteSession', { method: 'POST', token: b.refreshJwt })).status).toBe(200)
    expectError(await refresh(a.refreshJwt), 401)
    expectError(await refresh(b.refreshJwt), 401)

    // logging out with the older token also ends its successor
    const c = await login(alice.handle, alice.password)
    const d = (await refresh(c.refreshJwt)).body as Session
    expect((await xrpc('com.atproto.server.deleteSession', { method: 'POST', token: c.refreshJwt })).status).toBe(200)
    expectError(await refresh(d.refreshJwt), 401)

    // other sessions of the same account are untouched
    const other = await login(alice.handle, alice.password)
    expect((await refresh(other.refreshJwt)).status).toBe(200)
  })

  test('an access token signed with another secret is refused', async () => {
    const forged = await signAccessToken(alice.did, randomBytes(32).toString('hex'), { iat: nowS(), exp: nowS() + 3600 })
    expectError(await whoami(forged), 401, 'InvalidToken')
    const write = await xrpc('com.atproto.repo.createRecord', {
      token: forged,
      body: { repo: alice.did, collection: 'com.example.forged', record: { x: 1 } },
    })
    expectError(write, 401)
  })

  test('an unsigned (alg: none) token is refused', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const header = b64({ alg: 'none', typ: 'at+jwt' })
    const payload = b64({ scope: ACCESS_SCOPE, sub: alice.did, aud: net.pds.ctx.cfg.service.did, iat: nowS(), exp: nowS() + 3600 })
    expectError(await whoami(`${header}.${payload}.`), 401)
  })

  test('an expired access token is refused with ExpiredToken', async () => {
    // control: the same construction, unexpired, is accepted, so only `exp` differs
    const valid = await signAccessToken(alice.did, JWT_SECRET, { iat: nowS(), exp: nowS() + 600 })
    expect((await whoami(valid)).status).toBe(200)
    const expired = await signAccessToken(alice.did, JWT_SECRET, { iat: nowS() - 7200, exp: nowS() - 3600 })
    expectError(await whoami(expired), 401, 'ExpiredToken')
  })

  test('a token accepted before is refused once it expires (verified tokens are remembered, their expiry is not)', async () => {
    const exp = nowS() + 2
    const shortLived = await signAccessToken(alice.did, JWT_SECRET, { iat: nowS(), exp })
    expect((await whoami(shortLived)).status).toBe(200)
    expect((await whoami(shortLived)).status).toBe(200)
    while (nowS() < exp) await new Promise((r) => setTimeout(r, 100))
    expectError(await whoami(shortLived), 401, 'ExpiredToken')
  })

  test('a refresh token is not an access token, nor the reverse', async () => {
    const s = await login(bob.handle, bob.password)
    expectError(await whoami(s.refreshJwt), 401, 'InvalidToken')
    expectError(
      await xrpc('com.atproto.repo.createRecord', {
        token: s.refreshJwt,
        body: { repo: bob.did, collection: 'com.example.note', record: { x: 1 } },
      }),
      401,
    )
    expectError(await refresh(s.accessJwt), 401, 'InvalidToken')
    // once each has been accepted for what it is, still not for the other
    expect((await whoami(s.accessJwt)).status).toBe(200)
    expectError(await refresh(s.accessJwt), 401, 'InvalidToken')
    expect((await refresh(s.refreshJwt)).status).toBe(200)
    expectError(await whoami(s.refreshJwt), 401, 'InvalidToken')
  })

  test("another user's token cannot write to your repo", async () => {
    const s = await login(bob.handle, bob.password)
    const res = await xrpc('com.atproto.repo.createRecord', {
      token: s.accessJwt,
      body: { repo: alice.did, collection: 'com.example.intrusion', record: { x: 1 } },
    })
    expectError(res, [400, 401, 403])
    const put = await xrpc('com.atproto.repo.putRecord', {
      token: s.accessJwt,
      body: { repo: alice.handle, collection: 'com.example.intrusion', rkey: 'self', record: { x: 1 } },
    })
    expectError(put, [400, 401, 403])
    const list = await xrpc('com.atproto.repo.listRecords', { params: { repo: alice.did, collection: 'com.example.intrusion' } })
    expect(list.body.records).toEqual([])
  })

  test('no token at all is AuthenticationRequired', async () => {
    expectError(await xrpc('com.atproto.server.getSession'), 401, 'AuthenticationRequired')
  })
})

// ---------------------------------------------------------------- app passwords

describe('app passwords', () => {
  test('create, log in, post; no account management; revoke ends logins', async () => {
    const created = await alice.agent.com.atproto.server.createAppPassword({ name: 'my-client' })
    const appPassword = created.data.password
    expect(appPassword).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/)
    const listed = await alice.agent.com.atproto.server.listAppPasswords()
    expect(listed.data.passwords.map((p) => p.name)).toContain('my-client')

    const app = net.agent()
    await app.login({ identifier: alice.handle, password: appPassword })
    expect(app.session?.did).toBe(alice.did)
    const me = await app.com.atproto.server.getSession()
    expect(me.data.email).toBeUndefined() // app passwords don't see the account's email
    const post = await app.post({ text: 'from an app password', createdAt: new Date().toISOString() })
    expect(post.uri).toContain(alice.did)

    await expectXrpcError(app.com.atproto.server.createAppPassword({ name: 'escalate' }), [401, 403])
    await expectXrpcError(app.com.atproto.server.listAppPasswords(), [401, 403])
    await expectXrpcError(app.com.atproto.server.revokeAppPassword({ name: 'my-client' }), [401, 403])
    await expectXrpcError(app.com.atproto.server.requestAccountDelete(), [401, 403])
    await expectXrpcError(app.com.atproto.server.deactivateAccount({}), [401, 403])
    // the app password is not the account password
    await expectXrpcError(
      net.agent().com.atproto.server.deleteAccount({ did: alice.did, password: appPassword, token: 'AAAAA-BBBBB' }),
      401,
    )
    // a refreshed app-password session is still an app-password session
    const rotated = await refresh(app.session!.refreshJwt)
    expect(rotated.status).toBe(200)
    expectError(await xrpc('com.atproto.server.createAppPassword', { token: rotated.body.accessJwt, body: { name: 'via-refresh' } }), [401, 403])
    expectError(await xrpc('com.atproto.server.listAppPasswords', { token: rotated.body.accessJwt }), [401, 403])
    const appRefresh = rotated.body.refreshJwt as string

    await alice.agent.com.atproto.server.revokeAppPassword({ name: 'my-client' })
    await expectXrpcError(net.agent().login({ identifier: alice.handle, password: appPassword }), 401)
    expectError(await refresh(appRefresh), 401)
    const after = await alice.agent.com.atproto.server.listAppPasswords()
    expect(after.data.passwords.map((p) => p.name)).not.toContain('my-client')
  })
})

// ---------------------------------------------------------------- service auth

describe('getServiceAuth', () => {
  const aud = 'did:web:feeds.example.com'
  const lxm = 'app.bsky.feed.getFeedSkeleton'

  test('issues a token for aud/lxm that verifies with the signing key in the DID document', async () => {
    const res = await alice.agent.com.atproto.server.getServiceAuth({ aud, lxm })
    const idResolver = new IdResolver({ plcUrl: net.plc.url, fetch: globalThis.fetch })
    const payload = await verifyJwt(res.data.token, aud, lxm, (iss, forceRefresh) =>
      idResolver.did.resolveAtprotoKey(iss.split('#')[0], forceRefresh),
    )
    expect(payload.iss).toBe(alice.did)
    expect(payload.aud).toBe(aud)
    expect(payload.lxm).toBe(lxm)
    expect(payload.exp).toBeGreaterThan(nowS())
    expect(payload.exp).toBeLessThanOrEqual(nowS() + 3600)

    // the same token does not pass for another audience or another method
    await expect(
      verifyJwt(res.data.token, 'did:web:other.example.com', lxm, (iss) => idResolver.did.resolveAtprotoKey(iss.split('#')[0])),
    ).rejects.toThrow()
    await expect(
      verifyJwt(res.data.token, aud, 'app.bsky.feed.getTimeline', (iss) => idResolver.did.resolveAtprotoKey(iss.split('#')[0])),
    ).rejects.toThrow()
  })

  test('an explicit exp within an hour is honoured; more than an hour is BadExpiration', async () => {
    const exp = nowS() + 1800
    const ok = await alice.agent.com.atproto.server.getServiceAuth({ aud, lxm, exp })
    expect(decodeJwt(ok.data.token).exp).toBe(exp)
    await expectXrpcError(alice.agent.com.atproto.server.getServiceAuth({ aud, lxm, exp: nowS() + 2 * 3600 }), 400, 'BadExpiration')
    await expectXrpcError(alice.agent.com.atproto.server.getServiceAuth({ aud, lxm, exp: nowS() - 60 }), 400, 'BadExpiration')
  })

  test('a token without lxm lives at most a minute', async () => {
    const res = await alice.agent.com.atproto.server.getServiceAuth({ aud })
    const claims = decodeJwt(res.data.token)
    expect(claims.lxm).toBeUndefined()
    expect(claims.exp! - nowS()).toBeLessThanOrEqual(60)
    await expectXrpcError(alice.agent.com.atproto.server.getServiceAuth({ aud, exp: nowS() + 600 }), 400, 'BadExpiration')
  })

  test('no service tokens for account-management methods', async () => {
    for (const m of ['com.atproto.server.createAppPassword', 'com.atproto.identity.updateHandle', 'com.atproto.server.deactivateAccount']) {
      await expectXrpcError(alice.agent.com.atproto.server.getServiceAuth({ aud, lxm: m }), 400, 'InvalidRequest')
    }
  })

  test('app passwords: lxm required; chat only for privileged ones', async () => {
    const plain = (await alice.agent.com.atproto.server.createAppPassword({ name: 'svc-plain' })).data.password
    const priv = (await alice.agent.com.atproto.server.createAppPassword({ name: 'svc-priv', privileged: true })).data.password
    const plainAgent = net.agent()
    await plainAgent.login({ identifier: alice.handle, password: plain })
    const privAgent = net.agent()
    await privAgent.login({ identifier: alice.handle, password: priv })
    const chat = 'chat.bsky.convo.sendMessage'

    expect((await plainAgent.com.atproto.server.getServiceAuth({ aud, lxm })).data.token).toBeTruthy()
    await expectXrpcError(plainAgent.com.atproto.server.getServiceAuth({ aud }), 400)
    await expectXrpcError(plainAgent.com.atproto.server.getServiceAuth({ aud, lxm: chat }), 400)
    const ok = await privAgent.com.atproto.server.getServiceAuth({ aud, lxm: chat })
    expect(decodeJwt(ok.data.token).lxm).toBe(chat)
  })

  test('requires a session', async () => {
    await expectXrpcError(net.agent().com.atproto.server.getServiceAuth({ aud, lxm }), 401)
  })
})

// ---------------------------------------------------------------- server & invites

describe('describeServer', () => {
  test('describes this PDS', async () => {
    const res = await net.agent().com.atproto.server.describeServer()
    expect(res.data.did).toBe(net.pds.ctx.cfg.service.did)
    expect(res.data.availableUserDomains).toEqual(['.test'])
    expect(res.data.inviteCodeRequired).toBe(false)
  })
})

describe('invite codes (PDS_INVITE_REQUIRED=true)', () => {
  let inv: TestNetwork
  const admin = () => ({ headers: inv.adminAuthHeaders() })
  const account = (handle: string, inviteCode?: string) =>
    inv.agent().com.atproto.server.createAccount({
      handle,
      email: `${handle.split('.')[0]}@example.com`,
      password: 'invite-test-password',
      inviteCode,
    })

  beforeAll(async () => {
    inv = await TestNetwork.create({ env: { PDS_INVITE_REQUIRED: 'true' } })
  })
  afterAll(async () => {
    await inv?.close()
  })

  test('describeServer says so', async () => {
    expect((await inv.agent().com.atproto.server.describeServer()).data.inviteCodeRequired).toBe(true)
  })

  test('createInviteCode needs admin basic auth', async () => {
    const wrong = Buffer.from('admin:not-the-password').toString('base64')
    await expectXrpcError(
      inv.agent().com.atproto.server.createInviteCode({ useCount: 1 }, { headers: { authorization: `Basic ${wrong}` } }),
      401,
    )
    await expectXrpcError(inv.agent().com.atproto.server.createInviteCode({ useCount: 1 }), 401)
    const user = await inv.createUser('hank')
    await expectXrpcError(user.agent.com.atproto.server.createInviteCode({ useCount: 1 }), 401)
  })

  test('createAccount without, with a bad, with a good, and with a used-up code', async () => {
    await expectXrpcError(account('nocode.test'), 400, 'InvalidInviteCode')
    await expectXrpcError(account('badcode.test', 'localhost-aaaaa-bbbbb'), 400, 'InvalidInviteCode')

    const { data } = await inv.agent().com.atproto.server.createInviteCode({ useCount: 1 }, admin())
    const ok = await account('goodcode.test', data.code)
    expect(ok.data.did).toMatch(/^did:plc:/)
    expect(ok.data.handle).toBe('goodcode.test')

    await expectXrpcError(account('reused.test', data.code), 400, 'InvalidInviteCode')
    // nothing was created for the refused attempts
    for (const handle of ['nocode.test', 'badcode.test', 'reused.test']) {
      await expectXrpcError(inv.agent().com.atproto.identity.resolveHandle({ handle }), 400)
    }
  })

  test('a multi-use code works as many times as it says', async () => {
    const { data } = await inv.agent().com.atproto.server.createInviteCode({ useCount: 2 }, admin())
    await account('multi-one.test', data.code)
    await account('multi-two.test', data.code)
    await expectXrpcError(account('multi-three.test', data.code), 400, 'InvalidInviteCode')
  })
})

// ---------------------------------------------------------------- handles

describe('handles', () => {
  const tryCreate = (handle: string) =>
    net.agent().com.atproto.server.createAccount({ handle, email: `${randomBytes(4).toString('hex')}@example.com`, password: 'handle-test-password' })

  test('createAccount refuses invalid, foreign-domain and taken handles', async () => {
    await expectXrpcError(tryCreate('not_a handle!.test'), 400, ['InvalidHandle', 'InvalidRequest'])
    await expectXrpcError(tryCreate('ab.test'), 400, 'InvalidHandle') // too short
    await expectXrpcError(tryCreate('a.b.test'), 400, 'InvalidHandle') // dot before the service domain
    await expectXrpcError(tryCreate('carol.example.com'), 400, 'UnsupportedDomain')
    await expectXrpcError(tryCreate('alice.test'), 400, 'HandleNotAvailable')
    await expectXrpcError(tryCreate('ALICE.test'), 400, 'HandleNotAvailable')
  })

  test('updateHandle: resolveHandle, the PLC document and /.well-known/atproto-did follow', async () => {
    const gina = await net.createUser('gina')
    expect((await wellKnownDid('gina.test')).text).toBe(gina.did)

    await gina.agent.com.atproto.identity.updateHandle({ handle: 'gina-renamed.test' })

    const resolved = await net.agent().com.atproto.identity.resolveHandle({ handle: 'gina-renamed.test' })
    expect(resolved.data.did).toBe(gina.did)
    await expectXrpcError(net.agent().com.atproto.identity.resolveHandle({ handle: 'gina.test' }), 400, 'HandleNotFound')

    const doc = (await (await fetch(`${net.plc.url}/${gina.did}`)).json()) as { alsoKnownAs: string[] }
    expect(doc.alsoKnownAs).toEqual(['at://gina-renamed.test'])

    const wk = await wellKnownDid('gina-renamed.test')
    expect(wk.status).toBe(200)
    expect(wk.text.trim()).toBe(gina.did)
    expect((await wellKnownDid('gina.test')).status).toBe(404)

    const session = await gina.agent.com.atproto.server.getSession()
    expect(session.data.handle).toBe('gina-renamed.test')
  })

  test('updateHandle refuses taken and foreign handles', async () => {
    await expectXrpcError(bob.agent.com.atproto.identity.updateHandle({ handle: 'alice.test' }), 400, 'HandleNotAvailable')
    // a custom domain must point at the DID (DNS TXT or well-known): this one resolves to nothing
    await expectXrpcError(bob.agent.com.atproto.identity.updateHandle({ handle: 'bob.example.com' }), 400, 'InvalidHandle')
    expect((await net.agent().com.atproto.identity.resolveHandle({ handle: 'bob.test' })).data.did).toBe(bob.did)
  })
})

// ---------------------------------------------------------------- account lifecycle

describe('deactivation', () => {
  test('deactivate hides the repo and blocks writes; activate restores it', async () => {
    const dave = await net.createUser('dave')
    const s = await login(dave.handle, dave.password)
    expect((await getRepo(dave.did)).status).toBe(200)

    expect((await xrpc('com.atproto.server.deactivateAccount', { token: s.accessJwt, body: {} })).status).toBe(200)
    expectError(await getRepo(dave.did), 400, 'RepoDeactivated')
    const status = await xrpc('com.atproto.server.checkAccountStatus', { token: s.accessJwt })
    expect(status.status).toBe(200)
    expect(status.body.activated).toBe(false)
    const repoStatus = await xrpc('com.atproto.sync.getRepoStatus', { params: { did: dave.did } })
    expect(repoStatus.body).toMatchObject({ did: dave.did, active: false, status: 'deactivated' })
    const write = await xrpc('com.atproto.repo.createRecord', {
      token: s.accessJwt,
      body: { repo: dave.did, collection: 'com.example.note', record: { x: 1 } },
    })
    expectError(write, [400, 401, 403])
    // a deactivated account may still log in and see that it is deactivated
    const again = await login(dave.handle, dave.password)
    expect(again).toMatchObject({ did: dave.did, active: false, status: 'deactivated' })
    expect((await whoami(again.accessJwt)).body).toMatchObject({ active: false, status: 'deactivated' })

    expect((await xrpc('com.atproto.server.activateAccount', { method: 'POST', token: s.accessJwt })).status).toBe(200)
    expect((await getRepo(dave.did)).status).toBe(200)
    const after = await xrpc('com.atproto.server.checkAccountStatus', { token: s.accessJwt })
    expect(after.body.activated).toBe(true)
    expect(after.body.validDid).toBe(true)
    expect((await xrpc('com.atproto.sync.getRepoStatus', { params: { did: dave.did } })).body.active).toBe(true)
  })
})

describe('email confirmation', () => {
  test('mailed token confirms the address', async () => {
    const ivy = await net.createUser('ivy')
    expect((await ivy.agent.com.atproto.server.getSession()).data.emailConfirmed).toBe(false)
    await ivy.agent.com.atproto.server.requestEmailConfirmation()
    const mail = await latestMail('ivy@example.com', 'confirm_email')
    await expectXrpcError(
      ivy.agent.com.atproto.server.confirmEmail({ email: 'ivy@example.com', token: 'AAAAA-BBBBB' }),
      400,
      ['InvalidToken', 'ExpiredToken'],
    )
    await expectXrpcError(ivy.agent.com.atproto.server.confirmEmail({ email: 'other@example.com', token: mail.token! }), 400, 'InvalidEmail')
    await ivy.agent.com.atproto.server.confirmEmail({ email: 'IVY@example.com', token: mail.token!.toLowerCase() })
    expect((await ivy.agent.com.atproto.server.getSession()).data.emailConfirmed).toBe(true)
  })
})

describe('email update and the emailed sign-in code', () => {
  test('a confirmed address approves its change; sign-in codes need it confirmed and then guard password sign-in', async () => {
    const gus = await net.createUser('gus')
    const agent = gus.agent.com.atproto.server
    // unconfirmed: replaced at once, and sign-in codes cannot go on
    expect((await agent.requestEmailUpdate()).data.tokenRequired).toBe(false)
    await agent.updateEmail({ email: 'gus2@example.com' })
    expect((await agent.getSession()).data.email).toBe('gus2@example.com')
    await expectXrpcError(agent.updateEmail({ email: 'gus2@example.com', emailAuthFactor: true }), 400, 'InvalidRequest')

    await agent.requestEmailConfirmation()
    await agent.confirmEmail({ email: 'gus2@example.com', token: (await latestMail('gus2@example.com', 'confirm_email')).token! })
    // confirmed: the mailed code is required, for the address and for the switch
    expect((await agent.requestEmailUpdate()).data.tokenRequired).toBe(true)
    await expectXrpcError(agent.updateEmail({ email: 'gus2@example.com', emailAuthFactor: true }), 400, 'TokenRequired')
    await agent.updateEmail({ email: 'gus2@example.com', emailAuthFactor: true, token: (await latestMail('gus2@example.com', 'update_email')).token! })
    expect((await agent.getSession()).data).toMatchObject({ emailConfirmed: true, emailAuthFactor: true })

    // the password alone: refused, and a code is mailed
    const first = await xrpc('com.atproto.server.createSession', { body: { identifier: gus.handle, password: gus.password } })
    expectError(first, 401, 'AuthFactorTokenRequired')
    expect(first.body.message).toMatch(/g\*\*\*2@example\.com/)
    const code = (await latestMail('gus2@example.com', 'sign_in')).token!
    expectError(await xrpc('com.atproto.server.createSession', { body: { identifier: gus.handle, password: gus.password, authFactorToken: 'AAAAA-BBBBB' } }), 400, 'InvalidToken')
    const ok = await xrpc('com.atproto.server.createSession', { body: { identifier: gus.handle, password: gus.password, authFactorToken: code } })
    expect(ok.status).toBe(200)
    expect(ok.body).toMatchObject({ did: gus.did, emailAuthFactor: true })
    // a code is good once
    expectError(await xrpc('com.atproto.server.createSession', { body: { identifier: gus.handle, password: gus.password, authFactorToken: code } }), 400, 'InvalidToken')
    // a wrong password never mails a code
    expectError(await xrpc('com.atproto.server.createSession', { body: { identifier: gus.handle, password: 'wrong-password' } }), 401, 'AuthenticationRequired')
    // app passwords are not asked for one
    const appPw = (await agent.createAppPassword({ name: 'tool' })).data.password
    expect((await xrpc('com.atproto.server.createSession', { body: { identifier: gus.handle, password: appPw } })).status).toBe(200)
    // a new address turns the codes off with its confirmation
    await agent.requestEmailUpdate()
    await agent.updateEmail({ email: 'gus3@example.com', token: (await latestMail('gus2@example.com', 'update_email')).token! })
    expect((await agent.getSession()).data).toMatchObject({ email: 'gus3@example.com', emailConfirmed: false, emailAuthFactor: false })
    expect((await xrpc('com.atproto.server.createSession', { body: { identifier: gus.handle, password: gus.password } })).status).toBe(200)
  })
})

describe('password reset', () => {
  test('mailed token resets the password; old password and old sessions stop working', async () => {
    const erin = await net.createUser('erin', 'erin-old-password')
    const before = await login(erin.handle, 'erin-old-password')

    const req = await xrpc('com.atproto.server.requestPasswordReset', { body: { email: 'erin@example.com' } })
    expect(req.status).toBe(200)
    const mail = await latestMail('erin@example.com', 'reset_password')
    expect(mail.token).toMatch(/^[A-Z2-7]{5}-[A-Z2-7]{5}$/)

    const bad = await xrpc('com.atproto.server.resetPassword', { body: { token: 'AAAAA-BBBBB', password: 'erin-new-password' } })
    expectError(bad, 400, ['InvalidToken', 'ExpiredToken'])

    const reset = await xrpc('com.atproto.server.resetPassword', { body: { token: mail.token, password: 'erin-new-password' } })
    expect(reset.status).toBe(200)

    expect((await login(erin.handle, 'erin-new-password')).did).toBe(erin.did)
    expectError(await xrpc('com.atproto.server.createSession', { body: { identifier: erin.handle, password: 'erin-old-password' } }), 401)
    expectError(await refresh(before.refreshJwt), 401)
    // a token is good once
    const reuse = await xrpc('com.atproto.server.resetPassword', { body: { token: mail.token, password: 'erin-third-password' } })
    expectError(reuse, 400, ['InvalidToken', 'ExpiredToken'])
  })

  test('an unknown address gets the same answer and no mail', async () => {
    const res = await xrpc('com.atproto.server.requestPasswordReset', { body: { email: 'nobody@example.com' } })
    expect(res.status).toBe(200)
    const names = await fs.readdir(net.pds.ctx.cfg.email.mailDirectory)
    for (const n of names) {
      const m = JSON.parse(await fs.readFile(path.join(net.pds.ctx.cfg.email.mailDirectory, n), 'utf8')) as Mail
      expect(m.to).not.toBe('nobody@example.com')
    }
  })
})

describe('account deletion', () => {
  test('mailed token + password deletes the account and its repo', async () => {
    const frank = await net.createUser('frank')
    await frank.agent.post({ text: 'soon gone', createdAt: new Date().toISOString() })
    const appPw = (await frank.agent.com.atproto.server.createAppPassword({ name: 'app' })).data.password
    await frank.agent.com.atproto.server.requestAccountDelete()
    const mail = await latestMail('frank@example.com', 'delete_account')
    const token = mail.token!

    const del = (password: string, t: string) =>
      xrpc('com.atproto.server.deleteAccount', { body: { did: frank.did, password, token: t } })
    expectError(await del('not-the-password', token), [400, 401])
    expectError(await del(appPw, token), [400, 401])
    expectError(await del(frank.password, 'AAAAA-BBBBB'), 400, ['InvalidToken', 'ExpiredToken'])
    expect((await getRepo(frank.did)).status).toBe(200) // still there after the refusals

    expect((await del(frank.password, token)).status).toBe(200)
    expectError(await getRepo(frank.did), 400, 'RepoNotFound')
    expectError(await xrpc('com.atproto.server.createSession', { body: { identifier: frank.handle, password: frank.password } }), 401)
    expectError(await xrpc('com.atproto.identity.resolveHandle', { params: { handle: frank.handle } }), 400, 'HandleNotFound')
    const repos = await xrpc('com.atproto.sync.listRepos')
    expect((repos.body.repos as { did: string }[]).map((r) => r.did)).not.toContain(frank.did)
  })
})
