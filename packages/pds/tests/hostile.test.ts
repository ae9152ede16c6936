/**
 * Malformed and unauthorised requests: each must be refused with a 4xx and a
 * JSON `{error, message}` (never a 5xx), and afterwards the victim's repo must
 * be exactly as it was, down to a signature-verified CAR export.
 */
import { randomBytes } from 'node:crypto'
import { SignJWT } from 'jose'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { TestNetwork } from '@atsuite/dev-env'
import {
  brief,
  listAll,
  queryString,
  request,
  verifiedRepoRecords,
  xget,
  xpost,
  type HttpResult,
  type RepoRecords,
} from './_util.ts'

const BLOB_LIMIT = 1000
const EXAMPLE = 'com.example.record'
const POST = 'app.bsky.feed.post'
const A_CID = 'bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq'

type User = { did: string; handle: string; password: string; accessJwt: string; refreshJwt: string }

let net: TestNetwork
let pds: string
let victim: User
let attacker: User
let victimBlobCid: string
let victimUpload: HttpResult
const RAW_CODEC = 0x55
const victimBlob = randomBytes(400)

type Snapshot = {
  head: string
  records: Record<string, { uri: string; cid: string; value: unknown }[]>
  verified: RepoRecords
  collections: string[]
}

const snapshot = async (user: User): Promise<Snapshot> => {
  const head = await xget(pds, 'com.atproto.sync.getLatestCommit', { did: user.did })
  const desc = await xget(pds, 'com.atproto.repo.describeRepo', { repo: user.did })
  const records: Snapshot['records'] = {}
  for (const c of [POST, EXAMPLE]) records[c] = await listAll(pds, user.did, c)
  const { records: verified } = await verifiedRepoRecords(pds, net.plc.url, user.did)
  return { head: head.json.cid, records, verified, collections: [...desc.json.collections].sort() }
}

let victimBefore: Snapshot
let attackerBefore: Snapshot

beforeAll(async () => {
  net = await TestNetwork.create({ env: { PDS_BLOB_UPLOAD_LIMIT: String(BLOB_LIMIT) } })
  pds = net.pds.url
  const mk = async (name: string): Promise<User> => {
    const u = await net.createUser(name)
    return { did: u.did, handle: u.handle, password: u.password, accessJwt: u.agent.session!.accessJwt, refreshJwt: u.agent.session!.refreshJwt }
  }
  victim = await mk('victim')
  attacker = await mk('attacker')

  // The blob's CID is computed here rather than read from the upload response, so
  // the rest of the suite does not hinge on uploadBlob's answer (checked on its own below).
  victimBlobCid = CID.createV1(RAW_CODEC, await sha256.digest(victimBlob)).toString()
  victimUpload = await request(`${pds}/xrpc/com.atproto.repo.uploadBlob`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${victim.accessJwt}` },
    body: victimBlob,
  })
  const blobRef = { $type: 'blob', ref: { $link: victimBlobCid }, mimeType: 'application/octet-stream', size: victimBlob.length }
  const writes = [
    { collection: POST, record: { $type: POST, text: 'first', createdAt: new Date().toISOString() } },
    { collection: POST, record: { $type: POST, text: 'second', createdAt: new Date().toISOString() } },
    { collection: EXAMPLE, rkey: 'a', record: { $type: EXAMPLE, n: 1, file: blobRef } },
    { collection: EXAMPLE, rkey: 'b', record: { $type: EXAMPLE, n: 2, nested: { list: [1, 2, 3] } } },
  ]
  for (const w of writes) {
    const r = await xpost(pds, 'com.atproto.repo.createRecord', { repo: victim.did, ...w }, victim.accessJwt)
    if (r.status !== 200) throw new Error(`setup write failed: ${brief(r)}`)
  }
  const r = await xpost(pds, 'com.atproto.repo.createRecord', { repo: attacker.did, collection: EXAMPLE, rkey: 'mine', record: { n: 0 } }, attacker.accessJwt)
  if (r.status !== 200) throw new Error(`setup write failed: ${brief(r)}`)
  victimBefore = await snapshot(victim)
  attackerBefore = await snapshot(attacker)
})

afterAll(async () => {
  await net?.close()
})

// ---- request builders --------------------------------------------------------

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const serviceDid = () => net.pds.ctx.cfg.service.did
const now = () => Math.floor(Date.now() / 1000)

const algNoneToken = () =>
  `${b64url({ alg: 'none', typ: 'at+jwt' })}.${b64url({ scope: 'com.atproto.access', sub: attacker.did, aud: serviceDid(), iat: now(), exp: now() + 3600 })}.`

const wrongSecretToken = () =>
  new SignJWT({ scope: 'com.atproto.access' })
    .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
    .setAudience(serviceDid())
    .setSubject(victim.did)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(randomBytes(32))

const raw = (nsid: string, body: string | Buffer, headers: Record<string, string>) =>
  request(`${pds}/xrpc/${nsid}`, { method: 'POST', headers, body })

const asAttacker = (nsid: string, body: unknown) => xpost(pds, nsid, body, attacker.accessJwt)
const createOwn = (record: unknown, extra: Record<string, unknown> = {}) =>
  asAttacker('com.atproto.repo.createRecord', { repo: attacker.did, collection: EXAMPLE, record, ...extra })

async function* chunks(n: number, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < n; i++) yield randomBytes(size)
}

// ---- the table -----------------------------------------------------------------

type Case = {
  name: string
  run: () => Promise<HttpResult>
  /** exact status(es); default: any 4xx */
  status?: number | number[]
  /** acceptable error names; default: any string */
  errors?: string[]
}

const AUTH = ['AuthenticationRequired', 'InvalidToken', 'ExpiredToken']
const NOT_YOURS = ['InvalidRequest', 'AuthenticationRequired', 'Forbidden', 'AuthRequired']

const cases: Case[] = [
  // --- bodies
  {
    name: 'malformed JSON body (createRecord)',
    run: () => raw('com.atproto.repo.createRecord', '{"repo": "x", "collection":', { 'content-type': 'application/json', authorization: `Bearer ${attacker.accessJwt}` }),
    status: 400,
    errors: ['InvalidRequest'],
  },
  {
    name: 'malformed JSON body (createSession, unauthenticated)',
    run: () => raw('com.atproto.server.createSession', '{identifier: victim}', { 'content-type': 'application/json' }),
    status: 400,
    errors: ['InvalidRequest'],
  },
  {
    name: 'JSON body is null',
    run: () => raw('com.atproto.repo.createRecord', 'null', { 'content-type': 'application/json', authorization: `Bearer ${attacker.accessJwt}` }),
    status: 400,
  },
  {
    name: 'JSON body is an array',
    run: () => raw('com.atproto.repo.createRecord', '[1,2]', { 'content-type': 'application/json', authorization: `Bearer ${attacker.accessJwt}` }),
    status: 400,
  },
  {
    name: 'wrong content-type (text/plain carrying valid JSON)',
    run: () =>
      raw('com.atproto.repo.createRecord', JSON.stringify({ repo: attacker.did, collection: EXAMPLE, record: { n: 1 } }), {
        'content-type': 'text/plain',
        authorization: `Bearer ${attacker.accessJwt}`,
      }),
    status: 400,
    errors: ['InvalidRequest'],
  },
  {
    name: 'wrong content-type (form-urlencoded)',
    run: () => raw('com.atproto.server.createSession', `identifier=${victim.handle}&password=x`, { 'content-type': 'application/x-www-form-urlencoded' }),
    status: 400,
  },
  {
    name: 'gzip content-encoding over a body that is not gzip',
    run: () => raw('com.atproto.server.createSession', 'definitely not gzip', { 'content-type': 'application/json', 'content-encoding': 'gzip' }),
  },
  {
    name: 'body on GET (getRecord)',
    run: () =>
      request(`${pds}/xrpc/com.atproto.repo.getRecord${queryString({ repo: victim.did, collection: EXAMPLE, rkey: 'a' })}`, {
        method: 'GET',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sneaky: true }),
      }),
    status: 400,
    errors: ['InvalidRequest'],
  },
  {
    name: 'missing required field (createRecord without collection)',
    run: () => asAttacker('com.atproto.repo.createRecord', { repo: attacker.did, record: { n: 1 } }),
    status: 400,
    errors: ['InvalidRequest'],
  },
  {
    name: 'missing required field (createSession without password)',
    run: () => xpost(pds, 'com.atproto.server.createSession', { identifier: victim.handle }),
    status: 400,
    errors: ['InvalidRequest'],
  },
  {
    name: 'wrong type (createRecord repo is a number)',
    run: () => asAttacker('com.atproto.repo.createRecord', { repo: 12345, collection: EXAMPLE, record: { n: 1 } }),
    status: 400,
    errors: ['InvalidRequest'],
  },
  {
    name: 'wrong type (createSession identifier is a number)',
    run: () => xpost(pds, 'com.atproto.server.createSession', { identifier: 42, password: victim.password }),
    status: 400,
    errors: ['InvalidRequest'],
  },
  {
    name: 'oversized JSON body (> 10 MB)',
    run: () => createOwn({ text: 'x'.repeat(11 * 1024 * 1024) }),
    status: 413,
    errors: ['PayloadTooLarge'],
  },
  // what the network cannot carry is refused at the write, never announced as a tooBig commit
  {
    name: 'record over 1,000,000 bytes of JSON (createRecord, 2.1 MB)',
    run: () => createOwn({ text: 'x'.repeat(2_100_000) }),
    status: 413,
    errors: ['PayloadTooLarge'],
  },
  {
    name: 'record over 1,000,000 bytes of JSON (putRecord)',
    run: () => asAttacker('com.atproto.repo.putRecord', { repo: attacker.did, collection: EXAMPLE, rkey: 'big', record: { text: 'x'.repeat(1_000_001) } }),
    status: 413,
    errors: ['PayloadTooLarge'],
  },
  {
    name: 'record over 1,000,000 bytes of JSON (applyWrites)',
    run: () =>
      asAttacker('com.atproto.repo.applyWrites', {
        repo: attacker.did,
        writes: [{ $type: 'com.atproto.repo.applyWrites#create', collection: EXAMPLE, rkey: 'big', value: { text: 'x'.repeat(1_500_000) } }],
      }),
    status: 413,
    errors: ['PayloadTooLarge'],
  },
  {
    name: 'commit whose blocks exceed 2 MB (applyWrites of three 900 KB records)',
    run: () =>
      asAttacker('com.atproto.repo.applyWrites', {
        repo: attacker.did,
        writes: [0, 1, 2].map((i) => ({ $type: 'com.atproto.repo.applyWrites#create', collection: EXAMPLE, rkey: `big${i}`, value: { text: String(i).repeat(900_000) } })),
      }),
    status: 400,
    errors: ['InvalidRequest'],
  },
  {
    name: `oversized blob (content-length > PDS_BLOB_UPLOAD_LIMIT=${BLOB_LIMIT})`,
    run: () =>
      request(`${pds}/xrpc/com.atproto.repo.uploadBlob`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${attacker.accessJwt}` },
        body: randomBytes(BLOB_LIMIT * 3),
      }),
    status: 413,
    errors: ['PayloadTooLarge'],
  },
  {
    name: 'oversized blob (chunked, no content-length)',
    run: () =>
      request(`${pds}/xrpc/com.atproto.repo.uploadBlob`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${attacker.accessJwt}` },
        body: chunks(4, BLOB_LIMIT),
      }),
    status: 413,
    errors: ['PayloadTooLarge'],
  },
  // --- methods
  {
    // The reference answers an unknown method with 501 MethodNotImplemented (the XRPC
    // spec's status for "not implemented here"); that is the one 5xx allowed.
    name: 'unknown XRPC method (4xx, or the reference 501)',
    run: () => xget(pds, 'com.example.doesNotExist'),
    status: [400, 404, 501],
  },
  {
    name: 'wrong HTTP method (GET a procedure)',
    run: () => xget(pds, 'com.atproto.repo.createRecord', { repo: attacker.did }),
    status: [400, 405],
  },
  {
    name: 'wrong HTTP method (POST a query)',
    run: () => xpost(pds, 'com.atproto.repo.getRecord', { repo: victim.did, collection: EXAMPLE, rkey: 'a' }),
    status: [400, 405],
  },
  // --- authentication
  {
    name: 'no auth (createRecord)',
    run: () => xpost(pds, 'com.atproto.repo.createRecord', { repo: victim.did, collection: EXAMPLE, record: { n: 1 } }),
    status: 401,
    errors: AUTH,
  },
  {
    name: 'no auth (uploadBlob)',
    run: () => request(`${pds}/xrpc/com.atproto.repo.uploadBlob`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' }),
    status: 401,
    errors: AUTH,
  },
  {
    name: 'garbage bearer token',
    run: () => xpost(pds, 'com.atproto.repo.createRecord', { repo: victim.did, collection: EXAMPLE, record: { n: 1 } }, 'garbage.garbage.garbage'),
    status: 401,
    errors: AUTH,
  },
  {
    name: '"Bearer" with no token',
    run: () => xpost(pds, 'com.atproto.repo.createRecord', { repo: victim.did, collection: EXAMPLE, record: { n: 1 } }, undefined, { authorization: 'Bearer ' }),
    status: 401,
    errors: AUTH,
  },
  {
    name: 'Basic credentials on a user method',
    run: () =>
      xpost(pds, 'com.atproto.repo.createRecord', { repo: victim.did, collection: EXAMPLE, record: { n: 1 } }, undefined, {
        authorization: `Basic ${Buffer.from(`admin:${victim.password}`).toString('base64')}`,
      }),
    status: 401,
    errors: AUTH,
  },
  {
    name: 'token with alg none',
    run: () => xpost(pds, 'com.atproto.repo.createRecord', { repo: attacker.did, collection: EXAMPLE, record: { n: 1 } }, algNoneToken()),
    status: 401,
    errors: AUTH,
  },
  {
    name: 'token signed with the wrong secret (claims to be the victim)',
    run: async () => xpost(pds, 'com.atproto.repo.createRecord', { repo: victim.did, collection: EXAMPLE, record: { n: 1 } }, await wrongSecretToken()),
    status: 401,
    errors: AUTH,
  },
  {
    name: 'refresh token used as an access token',
    run: () => xpost(pds, 'com.atproto.repo.createRecord', { repo: attacker.did, collection: EXAMPLE, record: { n: 1 } }, attacker.refreshJwt),
    status: 401,
    errors: AUTH,
  },
  {
    name: 'access token used for refreshSession',
    run: () => xpost(pds, 'com.atproto.server.refreshSession', undefined, attacker.accessJwt, { 'content-length': '0' }),
    status: 401,
    errors: AUTH,
  },
  {
    name: 'createSession with the wrong password',
    run: () => xpost(pds, 'com.atproto.server.createSession', { identifier: victim.handle, password: 'not-the-password' }),
    status: 401,
    errors: AUTH,
  },
  // --- authorisation: another user's repo
  {
    name: "createRecord in another user's repo",
    run: () => asAttacker('com.atproto.repo.createRecord', { repo: victim.did, collection: EXAMPLE, record: { n: 666 } }),
    errors: NOT_YOURS,
  },
  {
    name: "putRecord overwriting another user's record (by handle)",
    run: () => asAttacker('com.atproto.repo.putRecord', { repo: victim.handle, collection: EXAMPLE, rkey: 'a', record: { n: 666 } }),
    errors: NOT_YOURS,
  },
  {
    name: "deleteRecord of another user's record",
    run: () => asAttacker('com.atproto.repo.deleteRecord', { repo: victim.did, collection: EXAMPLE, rkey: 'b' }),
    errors: NOT_YOURS,
  },
  {
    name: "applyWrites to another user's repo",
    run: () =>
      asAttacker('com.atproto.repo.applyWrites', {
        repo: victim.did,
        writes: [{ $type: 'com.atproto.repo.applyWrites#delete', collection: EXAMPLE, rkey: 'a' }],
      }),
    errors: NOT_YOURS,
  },
  {
    name: 'createAccount with an existing handle',
    run: () => xpost(pds, 'com.atproto.server.createAccount', { handle: victim.handle, email: 'other@example.com', password: 'hunter2-password' }),
    status: 400,
    errors: ['HandleNotAvailable'],
  },
  {
    name: 'createAccount with an existing email',
    run: () => xpost(pds, 'com.atproto.server.createAccount', { handle: 'someone.test', email: 'victim@example.com', password: 'hunter2-password' }),
    status: 400,
  },
  // --- identifiers in params
  {
    name: 'invalid DID (sync.getLatestCommit did=not-a-did)',
    run: () => xget(pds, 'com.atproto.sync.getLatestCommit', { did: 'not-a-did' }),
    status: 400,
  },
  {
    name: 'invalid handle (getRecord repo=-bad-.test)',
    run: () => xget(pds, 'com.atproto.repo.getRecord', { repo: '-bad-.test', collection: EXAMPLE, rkey: 'a' }),
    status: 400,
  },
  {
    name: 'invalid NSID (getRecord collection=not_an_nsid)',
    run: () => xget(pds, 'com.atproto.repo.getRecord', { repo: victim.did, collection: 'not_an_nsid', rkey: 'a' }),
    status: 400,
  },
  {
    name: 'invalid NSID (listRecords collection=com..example)',
    run: () => xget(pds, 'com.atproto.repo.listRecords', { repo: victim.did, collection: 'com..example' }),
    status: 400,
  },
  {
    name: 'invalid rkey (getRecord rkey=..)',
    run: () => xget(pds, 'com.atproto.repo.getRecord', { repo: victim.did, collection: EXAMPLE, rkey: '..' }),
    status: 400,
  },
  {
    name: 'invalid rkey on write (putRecord rkey=../a)',
    run: () => asAttacker('com.atproto.repo.putRecord', { repo: attacker.did, collection: EXAMPLE, rkey: '../a', record: { n: 1 } }),
    status: 400,
  },
  {
    name: 'rkey too long (513 chars)',
    run: () => asAttacker('com.atproto.repo.putRecord', { repo: attacker.did, collection: EXAMPLE, rkey: 'o'.repeat(513), record: { n: 1 } }),
    status: 400,
  },
  {
    name: 'invalid AT-URI (like subject.uri)',
    run: () =>
      asAttacker('com.atproto.repo.createRecord', {
        repo: attacker.did,
        collection: 'app.bsky.feed.like',
        record: { subject: { uri: 'at://did:plc:x/../../etc', cid: A_CID }, createdAt: new Date().toISOString() },
      }),
    status: 400,
    errors: ['InvalidRecord'],
  },
  {
    name: 'invalid CID (sync.getBlob cid=notacid)',
    run: () => xget(pds, 'com.atproto.sync.getBlob', { did: victim.did, cid: 'notacid' }),
    status: 400,
  },
  {
    name: 'invalid CID (getRecord cid=notacid)',
    run: () => xget(pds, 'com.atproto.repo.getRecord', { repo: victim.did, collection: EXAMPLE, rkey: 'a', cid: 'notacid' }),
    status: 400,
  },
  {
    name: 'unknown repo (sync.getRepo for a well-formed DID nobody has)',
    run: () => xget(pds, 'com.atproto.sync.getRepo', { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }),
    status: [400, 404],
    errors: ['RepoNotFound'],
  },
  // --- paging
  { name: 'limit=0', run: () => xget(pds, 'com.atproto.repo.listRecords', { repo: victim.did, collection: EXAMPLE, limit: 0 }), status: 400 },
  { name: 'limit=10000', run: () => xget(pds, 'com.atproto.repo.listRecords', { repo: victim.did, collection: EXAMPLE, limit: 10000 }), status: 400 },
  { name: 'limit=abc', run: () => xget(pds, 'com.atproto.repo.listRecords', { repo: victim.did, collection: EXAMPLE, limit: 'abc' }), status: 400 },
  { name: 'listRepos limit=-1', run: () => xget(pds, 'com.atproto.sync.listRepos', { limit: -1 }), status: 400 },
  // --- records
  { name: 'record with a float', run: () => createOwn({ n: 1.5 }), status: 400, errors: ['InvalidRecord'] },
  { name: 'record with {"$link": "."}', run: () => createOwn({ l: { $link: '.' } }), status: 400 },
  { name: 'record with {"$bytes": [1,2,3]}', run: () => createOwn({ b: { $bytes: [1, 2, 3] } }), status: 400 },
  { name: 'record with an empty nested $type', run: () => createOwn({ inner: { $type: '', a: 1 } }), status: 400 },
  {
    name: '$type does not match the collection',
    run: () => createOwn({ $type: POST, text: 'hi', createdAt: new Date().toISOString() }),
    status: 400,
    errors: ['InvalidRecord'],
  },
  { name: 'record is a string', run: () => createOwn('just a string'), status: 400 },
  { name: 'record is an array', run: () => createOwn([1, 2, 3]), status: 400 },
  { name: 'record is null', run: () => createOwn(null), status: 400 },
  {
    name: 'post missing its required createdAt',
    run: () => asAttacker('com.atproto.repo.createRecord', { repo: attacker.did, collection: POST, record: { text: 'hi' } }),
    status: 400,
    errors: ['InvalidRecord'],
  },
  {
    name: 'validate=true for a lexicon the PDS does not know',
    run: () => createOwn({ n: 1 }, { validate: true }),
    status: 400,
  },
  {
    name: 'applyWrites with 201 writes',
    run: () =>
      asAttacker('com.atproto.repo.applyWrites', {
        repo: attacker.did,
        writes: Array.from({ length: 201 }, (_, i) => ({ $type: 'com.atproto.repo.applyWrites#create', collection: EXAMPLE, rkey: `w${i}`, value: { i } })),
      }),
    status: 400,
  },
  {
    name: 'applyWrites with an unknown write $type',
    run: () =>
      asAttacker('com.atproto.repo.applyWrites', {
        repo: attacker.did,
        writes: [{ $type: 'com.atproto.repo.applyWrites#explode', collection: EXAMPLE, rkey: 'x', value: {} }],
      }),
    status: 400,
  },
  { name: 'swapCommit garbage', run: () => createOwn({ n: 1 }, { swapCommit: 'garbage' }), status: 400 },
  {
    name: 'swapRecord garbage (putRecord)',
    run: () => asAttacker('com.atproto.repo.putRecord', { repo: attacker.did, collection: EXAMPLE, rkey: 'mine', record: { n: 2 }, swapRecord: '!!' }),
    status: 400,
  },
  // --- traversal and query-string abuse
  {
    name: 'path traversal in getBlob did (../..)',
    run: () => request(`${pds}/xrpc/com.atproto.sync.getBlob?did=../..&cid=${victimBlobCid}`),
    status: 400,
  },
  {
    name: 'path traversal in getBlob did (well-formed did:web:..%2F..)',
    run: () => xget(pds, 'com.atproto.sync.getBlob', { did: 'did:web:..%2F..%2Factors', cid: victimBlobCid }),
    status: 400,
  },
  {
    name: 'path traversal in getBlob cid (../../account.sqlite)',
    run: () => xget(pds, 'com.atproto.sync.getBlob', { did: victim.did, cid: '../../account.sqlite' }),
    status: 400,
  },
  {
    name: 'huge number of query params (1000 unknown params, required collection missing)',
    run: () =>
      request(
        `${pds}/xrpc/com.atproto.repo.listRecords?repo=${victim.did}${Array.from({ length: 1000 }, (_, i) => `&p${i}=${i}`).join('')}`,
      ),
    status: 400,
    errors: ['InvalidRequest'],
  },
  {
    name: '__proto__ query param',
    run: () => request(`${pds}/xrpc/com.atproto.repo.listRecords?repo=${victim.did}&collection=${EXAMPLE}&__proto__=1`),
    status: 400,
  },
]

// (was a 500 under response validation: upload returned a plain object, not a BlobRef; fixed in 072cdc6)
test('uploadBlob (setup) answers 200 with a blob ref to the uploaded bytes', () => {
  expect(brief(victimUpload)).toMatch(/^200 /)
  expect(victimUpload.json.blob).toEqual({ $type: 'blob', ref: { $link: victimBlobCid }, mimeType: 'application/octet-stream', size: victimBlob.length })
})

test(`the hostile table has at least 40 cases (${cases.length})`, () => {
  expect(cases.length).toBeGreaterThanOrEqual(40)
  console.log(`hostile cases: ${cases.length}`)
})

test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
  const r = await c.run()
  const body = r.json as { error?: unknown; message?: unknown } | undefined
  // a 5xx passes only where the case names it (the 501 for an unknown method)
  const statusOk = c.status !== undefined ? ([] as number[]).concat(c.status).includes(r.status) : r.status >= 400 && r.status < 500
  const verdict = {
    response: `${c.name}: ${brief(r)}`,
    statusOk,
    error: typeof body?.error,
    message: typeof body?.message,
    errorName: c.errors ? c.errors.includes(String(body?.error)) : true,
  }
  expect(verdict).toEqual({ response: verdict.response, statusOk: true, error: 'string', message: 'string', errorName: true })
})

test('garbage cursors are harmless (200 with a page, or 400; never 5xx)', async () => {
  const results = [
    await xget(pds, 'com.atproto.repo.listRecords', { repo: victim.did, collection: EXAMPLE, cursor: '\u0000\uffff../;DROP TABLE record' }),
    await xget(pds, 'com.atproto.sync.listRepos', { cursor: 'zzz-not-a-did' }),
    await xget(pds, 'com.atproto.sync.listBlobs', { did: victim.did, cursor: '%%%' }),
  ]
  for (const r of results) expect([200, 400]).toContain(r.status)
})

test("the victim's repo is unchanged: listRecords, latest commit, and a verified CAR export", async () => {
  const after = await snapshot(victim)
  expect(after.head).toBe(victimBefore.head)
  expect(after.collections).toEqual(victimBefore.collections)
  expect(after.records).toEqual(victimBefore.records)
  expect([...after.verified.entries()].sort()).toEqual([...victimBefore.verified.entries()].sort())
  // the index and the signed repo agree
  const listed = Object.values(after.records)
    .flat()
    .map((r) => [r.uri.split('/').slice(3).join('/'), r.cid])
    .sort()
  expect(listed).toEqual([...after.verified.entries()].sort())
  // the blob is still served, byte for byte
  const blob = await xget(pds, 'com.atproto.sync.getBlob', { did: victim.did, cid: victimBlobCid })
  expect(blob.status).toBe(200)
  expect(Buffer.compare(blob.bytes, victimBlob)).toBe(0)
  // the victim's session still works
  const own = await xpost(pds, 'com.atproto.repo.createRecord', { repo: victim.did, collection: EXAMPLE, record: { n: 3 } }, victim.accessJwt)
  expect(own.status).toBe(200)
})

test("none of the refused requests wrote to the attacker's own repo either", async () => {
  const after = await snapshot(attacker)
  expect(after.head).toBe(attackerBefore.head)
  expect(after.records).toEqual(attackerBefore.records)
})

// KNOWN PDS BUG: a JSON string with an unpaired UTF-16 surrogate ("\ud800") has no UTF-8
// form; the PDS accepts it and stores U+FFFD instead, so the record (and CID) it acknowledges
// is not the one the client sent. It should be refused as not valid data-model text.
// (After the attacker-repo check on purpose: today this write succeeds.)
test('a record string with a lone surrogate is refused, not silently rewritten', async () => {
  const r = await request(`${pds}/xrpc/com.atproto.repo.createRecord`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${attacker.accessJwt}` },
    body: `{"repo":"${attacker.did}","collection":"${EXAMPLE}","record":{"s":"a\\ud800b"}}`,
  })
  expect(brief(r)).toMatch(/^400 /)
  expect(r.json.error).toBe('InvalidRecord')
})
