/**
 * The record writes answered without express (`@atsuite/common`'s
 * xrpc-direct.ts, PDS_DIRECT_ROUTES) must answer exactly as the express
 * path does. The same requests, good and bad, go to two PDSes, one with
 * direct routes and one without (rate limits on in both); every answer must
 * match: status, body, and the headers a client sees. The accounts' DIDs
 * and what time makes (revs, commit CIDs, generated record keys) are the
 * only differences allowed, and are written out of both sides first.
 */
import { gzipSync } from 'node:zlib'
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { brief, request, xget, type HttpResult } from './_util.ts'

const POST = 'app.bsky.feed.post'
const CREATE = 'com.atproto.repo.createRecord'
const PUT = 'com.atproto.repo.putRecord'
const DELETE = 'com.atproto.repo.deleteRecord'
const APPLY = 'com.atproto.repo.applyWrites'
const CREATED_AT = '2026-01-02T03:04:05.000Z'
const A_CID = 'bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq'
const BUDGET = 3000

type Side = { net: TestNetwork; alice: TestUser; bob: TestUser }
let direct: Side
let express: Side

const env = (directRoutes: boolean) => ({
  PDS_DIRECT_ROUTES: String(directRoutes),
  PDS_RATE_LIMITS_ENABLED: 'true',
  // room for every request below; the last test spends the rest
  PDS_RATE_LIMIT_OVERRIDES: JSON.stringify({ 'repo-write-hour': [{ durationMs: 3_600_000, points: BUDGET }] }),
  PDS_TRUST_PROXY: 'false',
})

const side = async (directRoutes: boolean): Promise<Side> => {
  const net = await TestNetwork.create({ relay: false, env: env(directRoutes) })
  return { net, alice: await net.createUser('alice'), bob: await net.createUser('bob') }
}

beforeAll(async () => {
  direct = await side(true)
  express = await side(false)
}, 120_000)

afterAll(async () => {
  await direct?.net.close()
  await express?.net.close()
})

const token = (u: TestUser): string => u.agent.session!.accessJwt
const post = (text: string) => ({ $type: POST, text, createdAt: CREATED_AT })

type Req = {
  name: string
  /** the answer the case is meant to get (on both sides) */
  status?: number
  nsid: string
  /** the body, built for a side (its DIDs); a string or Buffer is sent as it is */
  body: (s: Side) => unknown
  auth?: 'alice' | 'none' | 'bad'
  headers?: Record<string, string>
  /** appended to the path */
  query?: string
  /** how the body is sent when it is not JSON.stringify'd */
  raw?: boolean
}

const send = (s: Side, r: Req): Promise<HttpResult> => {
  const body = r.body(s)
  const bytes = Buffer.isBuffer(body) ? body : typeof body === 'string' && r.raw ? body : JSON.stringify(body)
  const auth = r.auth ?? 'alice'
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(auth === 'alice' ? { authorization: `Bearer ${token(s.alice)}` } : auth === 'bad' ? { authorization: 'Bearer not-a-token' } : {}),
    ...r.headers,
  }
  return request(`${s.net.pds.url}/xrpc/${r.nsid}${r.query ?? ''}`, { method: 'POST', headers, body: bytes })
}

/** What a client sees of an answer, with what differs by account or time written out. */
const seen = (s: Side, res: HttpResult) => {
  let text = res.text.split(s.alice.did).join('<alice>').split(s.bob.did).join('<bob>')
  // commit CIDs and revs, and the keys of records created without one
  text = text.replace(/"commit":\{"cid":"b[a-z2-7]+","rev":"[a-z2-7]{13}"\}/g, '"commit":{"cid":"<cid>","rev":"<rev>"}')
  text = text.replace(/Commit was at b[a-z2-7]+/g, 'Commit was at <cid>')
  text = text.replace(/(app\.bsky\.feed\.post\/)3[a-z2-7]{12}(?=")/g, (m, p: string) => (FIXED_RKEYS.has(m.slice(p.length)) ? m : `${p}<tid>`))
  const h = res.headers
  return {
    status: res.status,
    body: text,
    contentType: h['content-type'],
    cors: h['access-control-allow-origin'],
    etag: typeof h.etag === 'string' && /^W\/"[0-9a-f]+-[A-Za-z0-9+/]{27}"$/.test(h.etag),
    rateLimit: [h['ratelimit-limit'], h['ratelimit-remaining'], h['ratelimit-policy']],
    retryAfter: h['retry-after'] !== undefined,
    headerNames: Object.keys(h).sort().join(' '),
  }
}

const FIXED_RKEYS = new Set(['3jzfcijpj2z2a', '3jzfcijpj2z2b', '3jzfcijpj2z2c', '3jzfcijpj2z2d'])

const deep = (n: number): unknown => (n === 0 ? 'x' : { d: deep(n - 1) })

const REQUESTS: Req[] = [
  { name: 'create with rkey', status: 200, nsid: CREATE, body: (s) => ({ repo: s.alice.did, collection: POST, rkey: '3jzfcijpj2z2a', record: post('one') }) },
  { name: 'create at a taken rkey', status: 400, nsid: CREATE, body: (s) => ({ repo: s.alice.did, collection: POST, rkey: '3jzfcijpj2z2a', record: post('again') }) },
  { name: 'create without rkey', status: 200, nsid: CREATE, body: (s) => ({ repo: s.alice.did, collection: POST, record: post('two') }) },
  { name: 'create by handle', status: 200, nsid: CREATE, body: (s) => ({ repo: s.alice.handle, collection: POST, record: post('by handle') }) },
  { name: 'byte-order mark', status: 200, nsid: CREATE, raw: true, body: (s) => '\ufeff' + JSON.stringify({ repo: s.alice.did, collection: POST, record: post('bom') }) },
  { name: 'not JSON', status: 400, nsid: CREATE, raw: true, body: () => '{"repo": ' },
  { name: 'nested too deep', status: 400, nsid: CREATE, body: (s) => ({ repo: s.alice.did, collection: POST, record: { ...post('deep'), extra: deep(200) } }) },
  { name: 'a JSON array', status: 400, nsid: CREATE, body: () => [1, 2] },
  { name: 'a JSON string', status: 400, nsid: CREATE, body: () => 'hello' },
  { name: 'no collection', status: 400, nsid: CREATE, body: (s) => ({ repo: s.alice.did, record: post('x') }) },
  { name: 'no auth', status: 401, nsid: CREATE, auth: 'none', body: (s) => ({ repo: s.alice.did, collection: POST, record: post('x') }) },
  { name: 'bad token', status: 401, nsid: CREATE, auth: 'bad', body: (s) => ({ repo: s.alice.did, collection: POST, record: post('x') }) },
  { name: "another's repo", status: 400, nsid: CREATE, body: (s) => ({ repo: s.bob.did, collection: POST, record: post('x') }) },
  { name: 'unknown repo', status: 400, nsid: CREATE, body: () => ({ repo: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', collection: POST, record: post('x') }) },
  { name: 'invalid record', status: 400, nsid: CREATE, body: (s) => ({ repo: s.alice.did, collection: POST, record: { $type: POST, createdAt: CREATED_AT } }) },
  { name: 'record over 1 MB', status: 413, nsid: CREATE, body: (s) => ({ repo: s.alice.did, collection: POST, record: { ...post('big'), pad: 'x'.repeat(1_000_100) } }) },
  { name: 'bad swapCommit', status: 400, nsid: CREATE, body: (s) => ({ repo: s.alice.did, collection: POST, record: post('x'), swapCommit: A_CID }) },
  { name: 'charset utf-8', status: 200, nsid: CREATE, headers: { 'content-type': 'application/json; charset=utf-8' }, body: (s) => ({ repo: s.alice.did, collection: POST, record: post('utf8') }) },
  { name: 'upper-case type', status: 400, nsid: CREATE, headers: { 'content-type': 'Application/JSON' }, body: (s) => ({ repo: s.alice.did, collection: POST, record: post('upper') }) },
  // these go through express on both sides: the direct route leaves them alone
  { name: 'query string', status: 200, nsid: CREATE, query: '?x=1', body: (s) => ({ repo: s.alice.did, collection: POST, record: post('query') }) },
  { name: 'text/plain', status: 400, nsid: CREATE, headers: { 'content-type': 'text/plain' }, body: (s) => ({ repo: s.alice.did, collection: POST, record: post('plain') }) },
  { name: 'latin1', status: 415, nsid: CREATE, headers: { 'content-type': 'application/json; charset=latin1' }, body: (s) => ({ repo: s.alice.did, collection: POST, record: post('latin1') }) },
  {
    name: 'gzip', status: 200,
    nsid: CREATE,
    headers: { 'content-encoding': 'gzip' },
    body: (s) => gzipSync(JSON.stringify({ repo: s.alice.did, collection: POST, record: post('gzip') })),
  },
  { name: 'put new', status: 200, nsid: PUT, body: (s) => ({ repo: s.alice.did, collection: POST, rkey: '3jzfcijpj2z2b', record: post('put') }) },
  { name: 'put again', status: 200, nsid: PUT, body: (s) => ({ repo: s.alice.did, collection: POST, rkey: '3jzfcijpj2z2b', record: post('put 2') }) },
  { name: 'put with a wrong swapRecord', status: 400, nsid: PUT, body: (s) => ({ repo: s.alice.did, collection: POST, rkey: '3jzfcijpj2z2b', record: post('put 3'), swapRecord: A_CID }) },
  { name: 'put with swapRecord null on a record', status: 400, nsid: PUT, body: (s) => ({ repo: s.alice.did, collection: POST, rkey: '3jzfcijpj2z2b', record: post('put 4'), swapRecord: null }) },
  { name: 'put at a bad rkey', status: 400, nsid: PUT, body: (s) => ({ repo: s.alice.did, collection: POST, rkey: 'bad rkey', record: post('x') }) },
  { name: 'delete', status: 200, nsid: DELETE, body: (s) => ({ repo: s.alice.did, collection: POST, rkey: '3jzfcijpj2z2b' }) },
  { name: 'delete what is gone', status: 200, nsid: DELETE, body: (s) => ({ repo: s.alice.did, collection: POST, rkey: '3jzfcijpj2z2b' }) },
  { name: 'delete without rkey', status: 400, nsid: DELETE, body: (s) => ({ repo: s.alice.did, collection: POST }) },
  {
    name: 'applyWrites', status: 200,
    nsid: APPLY,
    body: (s) => ({
      repo: s.alice.did,
      writes: [
        { $type: `${APPLY}#create`, collection: POST, rkey: '3jzfcijpj2z2c', value: post('w1') },
        { $type: `${APPLY}#create`, collection: POST, rkey: '3jzfcijpj2z2d', value: post('w2') },
        { $type: `${APPLY}#update`, collection: POST, rkey: '3jzfcijpj2z2a', value: post('one edited') },
      ],
    }),
  },
  { name: 'applyWrites delete', status: 200, nsid: APPLY, body: (s) => ({ repo: s.alice.did, writes: [{ $type: `${APPLY}#delete`, collection: POST, rkey: '3jzfcijpj2z2c' }] }) },
  { name: 'applyWrites twice to a key', status: 400, nsid: APPLY, body: (s) => ({ repo: s.alice.did, writes: [1, 2].map((n) => ({ $type: `${APPLY}#create`, collection: POST, rkey: '3jzfcijpj2z2c', value: post(`twice ${n}`) })) }) },
  { name: 'applyWrites of 201', status: 400, nsid: APPLY, body: (s) => ({ repo: s.alice.did, writes: Array.from({ length: 201 }, () => ({ $type: `${APPLY}#create`, collection: POST, value: post('n') })) }) },
  { name: 'applyWrites with an unknown write', status: 400, nsid: APPLY, body: (s) => ({ repo: s.alice.did, writes: [{ $type: `${APPLY}#upsert`, collection: POST, value: post('u') }] }) },
  { name: 'applyWrites of nothing', status: 400, nsid: APPLY, body: (s) => ({ repo: s.alice.did, writes: [] }) },
]

test('every request gets the same answer with and without direct routes', async () => {
  const before = { direct: direct.net.pds.directRequests, express: express.net.pds.directRequests }
  for (const r of REQUESTS) {
    const [d, e] = [await send(direct, r), await send(express, r)]
    expect({ name: r.name, ...seen(direct, d) }).toEqual({ name: r.name, ...seen(express, e) })
    // the cases are what they are meant to be: good ones succeed, bad ones are refused with a 4xx
    // each case is the one it is meant to be: a write that succeeds, or the refusal it is about
    expect([r.name, d.status, brief(d)]).toEqual([r.name, r.status, brief(d)])
  }
  const fellThrough = REQUESTS.filter((r) => ['query string', 'text/plain', 'latin1', 'gzip'].includes(r.name)).length
  expect(direct.net.pds.directRequests - before.direct).toBe(REQUESTS.length - fellThrough)
  expect(express.net.pds.directRequests).toBe(0)
  expect(before.express).toBe(0)
})

test('both keep the same records', async () => {
  const records = async (s: Side) => {
    const res = await xget(s.net.pds.url, 'com.atproto.repo.listRecords', { repo: s.alice.did, collection: POST, limit: '100' })
    expect(res.status).toBe(200)
    return (res.json.records as { value: { text: string }; cid: string }[]).map((r) => [r.value.text, r.cid]).sort()
  }
  const d = await records(direct)
  expect(d.length).toBe(8)
  expect(d).toEqual(await records(express))
})

test('a client that goes away mid-body leaves the server answering', async () => {
  const http = await import('node:http')
  for (const s of [direct, express]) {
    const u = new URL(`${s.net.pds.url}/xrpc/${CREATE}`)
    await new Promise<void>((resolve) => {
      const headers = { 'content-type': 'application/json', 'content-length': '1000', authorization: `Bearer ${token(s.alice)}` }
      const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers })
      req.on('error', () => resolve())
      req.write('{"repo": "')
      setTimeout(() => {
        req.destroy()
        resolve()
      }, 50)
    })
    const res = await send(s, { name: 'after', nsid: CREATE, body: (x) => ({ repo: x.alice.did, collection: POST, record: post('after') }) })
    expect([res.status, brief(res)]).toEqual([200, brief(res)])
  }
})

test('a write budget runs out at the same request, with the same headers', async () => {
  const over = async (s: Side) => {
    const out: ReturnType<typeof seen>[] = []
    // applyWrites costs 3 points a create: 600 a call
    const writes = Array.from({ length: 200 }, (_, i) => ({ $type: `${APPLY}#create`, collection: POST, value: post(`spend ${i}`) }))
    for (let i = 0; i < 10; i++) {
      const res = await send(s, { name: 'spend', nsid: APPLY, body: (x) => ({ repo: x.alice.did, writes }) })
      out.push(seen(s, res))
      if (res.status === 429) break
    }
    return out
  }
  const d = await over(direct)
  expect(d.at(-1)?.status).toBe(429)
  expect(d.at(-1)?.body).toContain('RateLimitExceeded')
  expect(d).toEqual(await over(express))
})
