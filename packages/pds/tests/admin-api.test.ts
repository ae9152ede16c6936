/**
 * The operator's com.atproto.admin methods: each one's effect seen through the
 * public API (sessions, resolveHandle, the PLC directory, the firehose, mail),
 * 401 for a missing or wrong admin password on every method, 400 with the
 * lexicon's error name for bad input and unknown accounts.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { WebSocket } from 'ws'
import { decodeAll } from '@atproto/lex-cbor'
import { Secp256k1Keypair } from '@atproto/crypto'
import { AtpAgent } from '@atproto/api'
import { TestNetwork } from '@atsuite/dev-env'
import { signingKeyFromPlc } from './_util.ts'

type User = Awaited<ReturnType<TestNetwork['createUser']>>
type Reply = { status: number; body: any }
type Frame = { t?: string; body: Record<string, unknown> }

let net: TestNetwork
let alice: User
let bob: User
let admin: { headers: { authorization: string } }

const UNKNOWN_DID = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'

beforeAll(async () => {
  // invites required, so accounts have invitedBy and codes to manage
  net = await TestNetwork.create({ env: { PDS_INVITE_REQUIRED: 'true' } })
  admin = { headers: net.adminAuthHeaders() }
  alice = await net.createUser('alice')
  bob = await net.createUser('bob')
})
afterAll(async () => {
  await net?.close()
})

const client = () => new AtpAgent({ service: net.pds.url })

/** One XRPC call over fetch, so the status and error name are the server's own. */
const xrpc = async (
  nsid: string,
  opts: { params?: Record<string, string | string[]>; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> => {
  const url = new URL(`/xrpc/${nsid}`, net.pds.url)
  for (const [k, v] of Object.entries(opts.params ?? {})) for (const x of [v].flat()) url.searchParams.append(k, x)
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(url, {
    method: opts.body === undefined ? 'GET' : 'POST',
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : undefined }
}

const asAdmin = (nsid: string, opts: { params?: Record<string, string | string[]>; body?: unknown } = {}) =>
  xrpc(nsid, { ...opts, headers: net.adminAuthHeaders() })

const expectError = (res: Reply, status: number, error: string) => {
  expect({ status: res.status, error: res.body?.error }).toEqual({ status, error })
}

/** Awaits a rejected client call and checks its status and lexicon error name. */
const expectXrpcError = async (p: Promise<unknown>, status: number, error: string) => {
  const err = await p.then(
    () => {
      throw new Error(`expected the call to fail with ${status} ${error}`)
    },
    (e: unknown) => e as { status?: number; error?: string },
  )
  expect({ status: err.status, error: err.error }).toEqual({ status, error })
}

const login = (identifier: string, password: string) =>
  xrpc('com.atproto.server.createSession', { body: { identifier, password } })

const plcDoc = async (did: string): Promise<{ alsoKnownAs: string[] }> => {
  const res = await fetch(`${net.plc.url}/${encodeURIComponent(did)}`)
  expect(res.status).toBe(200)
  return (await res.json()) as { alsoKnownAs: string[] }
}

const plcLogLength = async (did: string): Promise<number> => {
  const res = await fetch(`${net.plc.url}/${encodeURIComponent(did)}/log`)
  expect(res.status).toBe(200)
  return ((await res.json()) as unknown[]).length
}

type Mail = { to: string; kind: string; token?: string; subject: string; text: string }

const mails = async (to: string, kind: string): Promise<Mail[]> => {
  const dir = net.pds.ctx.cfg.email.mailDirectory
  const names = (await fs.readdir(dir).catch(() => [])).filter((n) => n.endsWith('.json')).sort()
  const all = await Promise.all(names.map(async (n) => JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')) as Mail))
  return all.filter((m) => m.to === to && m.kind === kind)
}

const currentSeq = async (): Promise<number> => net.pds.ctx.sequencer.currentSeq ?? 0

/** Firehose frames after `cursor` (a real subscribeRepos socket) until `until` holds. */
const framesAfter = (cursor: number, until: (frames: Frame[]) => boolean, timeoutMs = 10_000) =>
  new Promise<Frame[]>((resolve, reject) => {
    const frames: Frame[] = []
    const ws = new WebSocket(`ws://localhost:${net.pds.port}/xrpc/com.atproto.sync.subscribeRepos?cursor=${cursor}`)
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`firehose: timed out with ${JSON.stringify(frames.map((f) => f.t))}`))
    }, timeoutMs)
    ws.on('message', (data: Buffer) => {
      const [header, body] = [...decodeAll(new Uint8Array(data))] as unknown as [{ t?: string }, Record<string, unknown>]
      frames.push({ t: header.t, body })
      if (until(frames)) {
        clearTimeout(timer)
        ws.terminate()
        resolve(frames)
      }
    })
    ws.on('error', reject)
  })

const firehoseEvent = async (cursor: number, t: string, did: string): Promise<Frame> => {
  const frames = await framesAfter(cursor, (fs) => fs.some((f) => f.t === t && (f.body.did ?? f.body.repo) === did))
  return frames.find((f) => f.t === t && (f.body.did ?? f.body.repo) === did)!
}

// ---------------------------------------------------------------- auth

/** Every method with valid input: only the credentials decide the answer. */
const calls = (): [string, { params?: Record<string, string | string[]>; body?: unknown }][] => [
  ['com.atproto.admin.getAccountInfo', { params: { did: alice.did } }],
  ['com.atproto.admin.getAccountInfos', { params: { dids: [alice.did] } }],
  ['com.atproto.admin.searchAccounts', { params: { email: 'alice' } }],
  ['com.atproto.admin.updateAccountEmail', { body: { account: alice.did, email: 'alice-hijack@example.com' } }],
  ['com.atproto.admin.updateAccountHandle', { body: { did: alice.did, handle: 'hijacked.test' } }],
  ['com.atproto.admin.updateAccountPassword', { body: { did: alice.did, password: 'hijacked-password' } }],
  ['com.atproto.admin.updateAccountSigningKey', { body: { did: alice.did, signingKey: 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme' } }],
  ['com.atproto.admin.sendEmail', { body: { recipientDid: alice.did, senderDid: bob.did, content: 'hi' } }],
  ['com.atproto.admin.enableAccountInvites', { body: { account: alice.did } }],
  ['com.atproto.admin.disableAccountInvites', { body: { account: alice.did } }],
  ['com.atproto.admin.getInviteCodes', {}],
  ['com.atproto.admin.disableInviteCodes', { body: { accounts: [alice.did] } }],
  ['com.atproto.admin.deleteAccount', { body: { did: alice.did } }],
]

test('every admin method answers 401 without the admin password, and changes nothing', async () => {
  const wrong = `Basic ${Buffer.from('admin:not-the-password').toString('base64')}`
  const wrongUser = `Basic ${Buffer.from(`moderator:${net.pds.ctx.secrets.adminPassword}`).toString('base64')}`
  const session = (await login(alice.handle, alice.password)).body as { accessJwt: string }
  for (const [nsid, opts] of calls()) {
    for (const authorization of [undefined, wrong, wrongUser, `Bearer ${session.accessJwt}`]) {
      const res = await xrpc(nsid, { ...opts, headers: authorization ? { authorization } : {} })
      expect({ nsid, authorization, status: res.status }).toEqual({ nsid, authorization, status: 401 })
      expect(typeof res.body.error).toBe('string')
    }
  }
  // nothing happened to alice
  const info = await client().com.atproto.admin.getAccountInfo({ did: alice.did }, admin)
  expect(info.data).toMatchObject({ handle: alice.handle, email: 'alice@example.com', invitesDisabled: false })
  expect((await login(alice.handle, alice.password)).status).toBe(200)
})

test('methods taking a DID refuse a malformed one with 400 before looking anything up', async () => {
  expectError(await asAdmin('com.atproto.admin.getAccountInfo', { params: { did: 'not-a-did' } }), 400, 'InvalidRequest')
  expectError(await asAdmin('com.atproto.admin.getAccountInfo', {}), 400, 'InvalidRequest')
  expectError(await asAdmin('com.atproto.admin.getAccountInfos', { params: { dids: ['did:plc:ok', 'nope'] } }), 400, 'InvalidRequest')
  for (const [nsid, body] of [
    ['com.atproto.admin.updateAccountHandle', { did: 'alice', handle: 'fine.test' }],
    ['com.atproto.admin.updateAccountPassword', { did: 'alice', password: 'long-enough-pw' }],
    ['com.atproto.admin.updateAccountSigningKey', { did: 'alice', signingKey: 'did:key:z' }],
    ['com.atproto.admin.sendEmail', { recipientDid: 'alice', senderDid: bob.did, content: 'x' }],
    ['com.atproto.admin.enableAccountInvites', { account: 'alice' }],
    ['com.atproto.admin.disableAccountInvites', { account: 'alice' }],
    ['com.atproto.admin.deleteAccount', { did: 'alice' }],
    ['com.atproto.admin.deleteAccount', {}],
    ['com.atproto.admin.updateAccountEmail', { account: 'not an identifier!', email: 'x@example.com' }],
  ] as const) {
    const res = await asAdmin(nsid, { body })
    expect({ nsid, status: res.status, error: res.body?.error }).toEqual({ nsid, status: 400, error: 'InvalidRequest' })
  }
})

test('an unknown account is a 400 with the reference error name, never a 500', async () => {
  expectError(await asAdmin('com.atproto.admin.getAccountInfo', { params: { did: UNKNOWN_DID } }), 400, 'NotFound')
  for (const [nsid, body] of [
    ['com.atproto.admin.updateAccountEmail', { account: UNKNOWN_DID, email: 'nobody@example.com' }],
    ['com.atproto.admin.updateAccountEmail', { account: 'nobody.test', email: 'nobody@example.com' }],
    ['com.atproto.admin.updateAccountHandle', { did: UNKNOWN_DID, handle: 'nobody.test' }],
    ['com.atproto.admin.updateAccountPassword', { did: UNKNOWN_DID, password: 'long-enough-pw' }],
    ['com.atproto.admin.updateAccountSigningKey', { did: UNKNOWN_DID, signingKey: 'did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme' }],
    ['com.atproto.admin.sendEmail', { recipientDid: UNKNOWN_DID, senderDid: bob.did, content: 'x' }],
    ['com.atproto.admin.enableAccountInvites', { account: UNKNOWN_DID }],
    ['com.atproto.admin.disableAccountInvites', { account: UNKNOWN_DID }],
    ['com.atproto.admin.deleteAccount', { did: UNKNOWN_DID }],
  ] as const) {
    const res = await asAdmin(nsid, { body })
    expect({ nsid, status: res.status, error: res.body?.error }).toEqual({ nsid, status: 400, error: 'AccountNotFound' })
  }
})

// ---------------------------------------------------------------- reading accounts

test('getAccountInfo(s): account view with email, invites, invitedBy and the profile record', async () => {
  const api = client().com.atproto
  await alice.agent.com.atproto.repo.putRecord({
    repo: alice.did,
    collection: 'app.bsky.actor.profile',
    rkey: 'self',
    record: { $type: 'app.bsky.actor.profile', displayName: 'Alice A.' },
  })
  // alice gets a two-use code; carol and dave sign up with it
  const { code } = (await api.server.createInviteCode({ useCount: 2, forAccount: alice.did }, admin)).data
  const signUp = async (name: string) => {
    const agent = client()
    await agent.createAccount({ handle: `${name}.test`, email: `${name}@example.com`, password: 'signup-password', inviteCode: code })
    return agent.session!.did
  }
  const carol = await signUp('carol')
  const dave = await signUp('dave')

  const info = (await api.admin.getAccountInfo({ did: alice.did }, admin)).data
  expect(info).toMatchObject({
    did: alice.did,
    handle: 'alice.test',
    email: 'alice@example.com',
    invitesDisabled: false,
    relatedRecords: [{ $type: 'app.bsky.actor.profile', displayName: 'Alice A.' }],
  })
  expect(Date.parse(info.indexedAt)).not.toBeNaN()
  expect(info.emailConfirmedAt).toBeUndefined()
  expect(info.deactivatedAt).toBeUndefined()
  expect(info.invitedBy).toMatchObject({ forAccount: 'admin', uses: [{ usedBy: alice.did }] })
  const owned = info.invites!.find((i) => i.code === code)!
  expect(owned).toMatchObject({ available: 2, disabled: false, forAccount: alice.did, createdBy: 'admin' })
  expect(owned.uses.map((u) => u.usedBy).sort()).toEqual([carol, dave].sort())

  const carolInfo = (await api.admin.getAccountInfo({ did: carol }, admin)).data
  expect(carolInfo.invitedBy?.code).toBe(code)
  expect(carolInfo.relatedRecords).toEqual([])

  // a deactivated account is shown, with when
  const deactivated = await net.createUser('sleepy')
  await deactivated.agent.com.atproto.server.deactivateAccount({})
  const sleepy = (await api.admin.getAccountInfo({ did: deactivated.did }, admin)).data
  expect(Date.parse(sleepy.deactivatedAt ?? '')).not.toBeNaN()

  const infos = (await api.admin.getAccountInfos({ dids: [dave, UNKNOWN_DID, alice.did, dave] }, admin)).data.infos
  expect(infos.map((i) => i.did)).toEqual([dave, alice.did])
  expect(infos[1]).toEqual(info)
})

test('searchAccounts: by email substring, literal wildcards, paged by cursor', async () => {
  const api = client().com.atproto.admin
  const names = ['srch-one', 'srch-two', 'srch-three']
  const dids = new Map<string, string>()
  for (const n of names) dids.set(n, (await net.createUser(n)).did)

  const all = (await api.searchAccounts({ email: 'SRCH-' }, admin)).data
  expect(all.accounts.map((a) => a.email).sort()).toEqual(names.map((n) => `${n}@example.com`).sort())
  expect(all.cursor).toBeUndefined()
  expect(all.accounts[0]).toMatchObject({ handle: expect.stringMatching(/^srch-/), invitedBy: { forAccount: 'admin' } })

  const one = (await api.searchAccounts({ email: 'two@' }, admin)).data.accounts
  expect(one.map((a) => a.did)).toEqual([dids.get('srch-two')])
  // `_` and `%` are matched literally, not as LIKE wildcards
  expect((await api.searchAccounts({ email: 'srch_' }, admin)).data.accounts).toEqual([])
  expect((await api.searchAccounts({ email: '%' }, admin)).data.accounts).toEqual([])

  const paged: string[] = []
  let cursor: string | undefined
  for (let i = 0; i < 10; i++) {
    const page = (await api.searchAccounts({ email: 'srch-', limit: 1, cursor }, admin)).data
    paged.push(...page.accounts.map((a) => a.did))
    cursor = page.cursor
    if (!cursor) break
  }
  expect(paged).toEqual([...dids.values()].sort())

  // no email: every account
  const everyone = (await api.searchAccounts({ limit: 100 }, admin)).data.accounts.map((a) => a.did)
  expect(everyone).toEqual(expect.arrayContaining([alice.did, bob.did, ...dids.values()]))
  expectError(await asAdmin('com.atproto.admin.searchAccounts', { params: { limit: '0' } }), 400, 'InvalidRequest')
})

// ---------------------------------------------------------------- changing accounts

test('updateAccountEmail: new address unconfirmed, old mailed tokens void; taken or invalid address refused', async () => {
  const api = client().com.atproto
  const erin = await net.createUser('erin')
  // a reset token mailed to the old address
  await api.server.requestPasswordReset({ email: 'erin@example.com' })
  const [resetMail] = (await mails('erin@example.com', 'reset_password')).slice(-1)
  expect(resetMail?.token).toBeTruthy()

  await api.admin.updateAccountEmail({ account: erin.handle, email: 'Erin.New@Example.com' }, admin)
  const me = (await erin.agent.com.atproto.server.getSession()).data
  expect(me).toMatchObject({ email: 'erin.new@example.com', emailConfirmed: false })
  expect((await api.admin.getAccountInfo({ did: erin.did }, admin)).data.email).toBe('erin.new@example.com')
  expect((await login('erin.new@example.com', erin.password)).status).toBe(200)
  await expectXrpcError(api.server.resetPassword({ token: resetMail.token!, password: 'via-old-token' }), 400, 'InvalidToken')

  expectError(await asAdmin('com.atproto.admin.updateAccountEmail', { body: { account: erin.did, email: 'bob@example.com' } }), 400, 'InvalidRequest')
  expectError(await asAdmin('com.atproto.admin.updateAccountEmail', { body: { account: erin.did, email: 'not-an-email' } }), 400, 'InvalidEmail')
  expect((await erin.agent.com.atproto.server.getSession()).data.email).toBe('erin.new@example.com')
})

test('updateAccountPassword: the new password logs in, the old one and old sessions do not', async () => {
  const api = client().com.atproto
  const fay = await net.createUser('fay')
  const oldSession = (await login(fay.handle, fay.password)).body as { refreshJwt: string }

  await api.admin.updateAccountPassword({ did: fay.did, password: 'brand-new-password' }, admin)
  expectError(await login(fay.handle, fay.password), 401, 'AuthenticationRequired')
  expect((await login(fay.handle, 'brand-new-password')).status).toBe(200)
  const refreshed = await fetch(`${net.pds.url}/xrpc/com.atproto.server.refreshSession`, {
    method: 'POST',
    headers: { authorization: `Bearer ${oldSession.refreshJwt}` },
  })
  expect({ status: refreshed.status, error: ((await refreshed.json()) as { error?: string }).error }).toEqual({ status: 401, error: 'ExpiredToken' })

  expectError(await asAdmin('com.atproto.admin.updateAccountPassword', { body: { did: fay.did, password: 'short' } }), 400, 'InvalidPassword')
  expect((await login(fay.handle, 'brand-new-password')).status).toBe(200)
})

test('updateAccountHandle: resolveHandle, the PLC document and the firehose show the new handle', async () => {
  const api = client().com.atproto
  const gus = await net.createUser('gus')
  const seq = await currentSeq()

  await api.admin.updateAccountHandle({ did: gus.did, handle: 'Gus-Renamed.test' }, admin)
  expect((await api.identity.resolveHandle({ handle: 'gus-renamed.test' })).data.did).toBe(gus.did)
  await expectXrpcError(api.identity.resolveHandle({ handle: 'gus.test' }), 400, 'HandleNotFound')
  expect((await plcDoc(gus.did)).alsoKnownAs).toEqual(['at://gus-renamed.test'])
  const evt = await firehoseEvent(seq, '#identity', gus.did)
  expect(evt.body).toMatchObject({ did: gus.did, handle: 'gus-renamed.test' })
  expect((await api.admin.getAccountInfo({ did: gus.did }, admin)).data.handle).toBe('gus-renamed.test')
  expect((await login('gus-renamed.test', gus.password)).status).toBe(200)

  // the same handle again: no new PLC op, #identity re-announced
  const ops = await plcLogLength(gus.did)
  expect(ops).toBe(2)
  const seq2 = await currentSeq()
  await api.admin.updateAccountHandle({ did: gus.did, handle: 'gus-renamed.test' }, admin)
  expect((await firehoseEvent(seq2, '#identity', gus.did)).body).toMatchObject({ handle: 'gus-renamed.test' })
  expect(await plcLogLength(gus.did)).toBe(ops)

  expectError(await asAdmin('com.atproto.admin.updateAccountHandle', { body: { did: gus.did, handle: 'bob.test' } }), 400, 'HandleNotAvailable')
  expectError(await asAdmin('com.atproto.admin.updateAccountHandle', { body: { did: gus.did, handle: 'gus.example.com' } }), 400, 'UnsupportedDomain')
  expectError(await asAdmin('com.atproto.admin.updateAccountHandle', { body: { did: gus.did, handle: 'ab.test' } }), 400, 'InvalidHandle')
  expectError(await asAdmin('com.atproto.admin.updateAccountHandle', { body: { did: gus.did, handle: 'no spaces.test' } }), 400, 'InvalidRequest')
  expect((await plcDoc(gus.did)).alsoKnownAs).toEqual(['at://gus-renamed.test'])
})

test('updateAccountSigningKey: the PLC document carries the new key and #identity is announced', async () => {
  const api = client().com.atproto
  const hal = await net.createUser('hal')
  const oldKey = await signingKeyFromPlc(net.plc.url, hal.did)
  const newKey = (await Secp256k1Keypair.create()).did()
  const seq = await currentSeq()

  await api.admin.updateAccountSigningKey({ did: hal.did, signingKey: newKey }, admin)
  expect(await signingKeyFromPlc(net.plc.url, hal.did)).toBe(newKey)
  expect(newKey).not.toBe(oldKey)
  expect((await firehoseEvent(seq, '#identity', hal.did)).body).toMatchObject({ did: hal.did, handle: 'hal.test' })
  expect((await plcDoc(hal.did)).alsoKnownAs).toEqual(['at://hal.test'])

  for (const signingKey of ['did:web:example.com', 'did:key:zNotAKey']) {
    expectError(await asAdmin('com.atproto.admin.updateAccountSigningKey', { body: { did: hal.did, signingKey } }), 400, 'InvalidRequest')
  }
  expect(await signingKeyFromPlc(net.plc.url, hal.did)).toBe(newKey)
})

test('sendEmail: mails the content to the account address', async () => {
  const api = client().com.atproto.admin
  const res = await api.sendEmail(
    { recipientDid: bob.did, senderDid: alice.did, content: 'Your account is fine.', subject: 'About your account', comment: 'ticket 7' },
    admin,
  )
  expect(res.data).toEqual({ sent: true })
  const [mail] = (await mails('bob@example.com', 'admin_email')).slice(-1)
  expect(mail).toMatchObject({ subject: 'About your account', text: 'Your account is fine.' })

  await api.sendEmail({ recipientDid: bob.did, senderDid: alice.did, content: 'Second.' }, admin)
  expect((await mails('bob@example.com', 'admin_email')).at(-1)).toMatchObject({ subject: 'Message via your PDS', text: 'Second.' })
})

// ---------------------------------------------------------------- invites

test('enable/disableAccountInvites toggle invitesDisabled', async () => {
  const api = client().com.atproto.admin
  await api.disableAccountInvites({ account: bob.did, note: 'spam' }, admin)
  expect((await api.getAccountInfo({ did: bob.did }, admin)).data.invitesDisabled).toBe(true)
  await api.enableAccountInvites({ account: bob.did }, admin)
  expect((await api.getAccountInfo({ did: bob.did }, admin)).data.invitesDisabled).toBe(false)
})

test('getInviteCodes: recent and usage orders, every code exactly once across pages', async () => {
  const api = client().com.atproto
  const busy = (await api.server.createInviteCode({ useCount: 5, forAccount: bob.did }, admin)).data.code
  for (const name of ['use-a', 'use-b', 'use-c']) {
    await client().createAccount({ handle: `${name}.test`, email: `${name}@example.com`, password: 'signup-password', inviteCode: busy })
  }
  const fresh = (await api.server.createInviteCodes({ useCount: 1, codeCount: 3 }, admin)).data.codes[0].codes

  const collect = async (sort: 'recent' | 'usage') => {
    const codes: { code: string; uses: unknown[]; createdAt: string }[] = []
    let cursor: string | undefined
    for (let i = 0; i < 1000; i++) {
      const page = (await api.admin.getInviteCodes({ sort, limit: 2, cursor }, admin)).data
      expect(page.codes.length).toBeLessThanOrEqual(2)
      codes.push(...page.codes)
      cursor = page.cursor
      if (!cursor) break
    }
    return codes
  }
  const recent = await collect('recent')
  const usage = await collect('usage')
  const unique = new Set(recent.map((c) => c.code))
  expect(unique.size).toBe(recent.length)
  expect(new Set(usage.map((c) => c.code))).toEqual(unique)
  for (const c of fresh) expect(unique.has(c)).toBe(true)

  for (let i = 1; i < recent.length; i++) expect(recent[i - 1].createdAt >= recent[i].createdAt).toBe(true)
  for (let i = 1; i < usage.length; i++) expect(usage[i - 1].uses.length).toBeGreaterThanOrEqual(usage[i].uses.length)
  expect(usage[0]).toMatchObject({ code: busy, available: 5, forAccount: bob.did })
  expect(usage[0].uses).toHaveLength(3)

  // the one request the reference PDS's clients make: default sort and limit
  const first = (await api.admin.getInviteCodes({}, admin)).data.codes
  expect(first.map((c) => c.code)).toEqual(recent.slice(0, first.length).map((c) => c.code))

  expectError(await asAdmin('com.atproto.admin.getInviteCodes', { params: { cursor: 'garbage' } }), 400, 'InvalidRequest')
  expectError(await asAdmin('com.atproto.admin.getInviteCodes', { params: { sort: 'usage', cursor: 'x::y' } }), 400, 'InvalidRequest')
  expectError(await asAdmin('com.atproto.admin.getInviteCodes', { params: { sort: 'oldest' } }), 400, 'InvalidRequest')
  expectError(await asAdmin('com.atproto.admin.getInviteCodes', { params: { limit: '501' } }), 400, 'InvalidRequest')
})

test('disableInviteCodes: by code and by owning account; a disabled code no longer signs anyone up', async () => {
  const api = client().com.atproto
  const [single, other] = (await api.server.createInviteCodes({ useCount: 1, codeCount: 2 }, admin)).data.codes[0].codes
  const owned = (await api.server.createInviteCode({ useCount: 1, forAccount: alice.did }, admin)).data.code

  await api.admin.disableInviteCodes({ codes: [single, 'no-such-code'] }, admin)
  await api.admin.disableInviteCodes({ accounts: [alice.did] }, admin)

  const signUp = (code: string, name: string) =>
    client().createAccount({ handle: `${name}.test`, email: `${name}@example.com`, password: 'signup-password', inviteCode: code })
  await expectXrpcError(signUp(single, 'late-one'), 400, 'InvalidInviteCode')
  await expectXrpcError(signUp(owned, 'late-two'), 400, 'InvalidInviteCode')
  await signUp(other, 'on-time')

  const aliceInvites = (await api.admin.getAccountInfo({ did: alice.did }, admin)).data.invites ?? []
  expect(aliceInvites.length).toBeGreaterThan(0)
  expect(aliceInvites.every((c) => c.disabled)).toBe(true)

  expectError(await asAdmin('com.atproto.admin.disableInviteCodes', { body: { accounts: ['admin'] } }), 400, 'InvalidRequest')
  expectError(await asAdmin('com.atproto.admin.disableInviteCodes', { body: { codes: 'abc' } }), 400, 'InvalidRequest')
})

// ---------------------------------------------------------------- deletion

test('deleteAccount: repo gone, login refused, #account deleted on the firehose', async () => {
  const api = client().com.atproto
  const ivan = await net.createUser('ivan')
  await ivan.agent.post({ text: 'soon gone', createdAt: new Date().toISOString() })
  const blob = await ivan.agent.uploadBlob(new Uint8Array([1, 2, 3]), { encoding: 'application/octet-stream' })
  const seq = await currentSeq()

  await api.admin.deleteAccount({ did: ivan.did }, admin)
  const evt = await firehoseEvent(seq, '#account', ivan.did)
  expect(evt.body).toMatchObject({ did: ivan.did, active: false, status: 'deleted' })
  await expectXrpcError(api.sync.getRepo({ did: ivan.did }), 400, 'RepoNotFound')
  await expectXrpcError(api.sync.getBlob({ did: ivan.did, cid: blob.data.blob.ref.toString() }), 400, 'RepoNotFound')
  expectError(await login(ivan.handle, ivan.password), 401, 'AuthenticationRequired')
  await expectXrpcError(api.identity.resolveHandle({ handle: ivan.handle }), 400, 'HandleNotFound')
  await expectXrpcError(api.admin.getAccountInfo({ did: ivan.did }, admin), 400, 'NotFound')
  expect(net.pds.ctx.actorStore.exists(ivan.did)).toBe(false)
  const listed = (await api.sync.listRepos({ limit: 1000 })).data.repos.map((r) => r.did)
  expect(listed).not.toContain(ivan.did)

  // a second delete: the account is gone
  expectError(await asAdmin('com.atproto.admin.deleteAccount', { body: { did: ivan.did } }), 400, 'AccountNotFound')
})
