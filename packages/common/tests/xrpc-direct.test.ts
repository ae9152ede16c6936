import { XRPCError } from '@atproto/xrpc-server'
import { pino } from 'pino'
import { com } from '@atsuite/lexicon'
import { ServiceShell } from '../src/service.ts'

// Direct routes on a bare ServiceShell: what is taken directly and what is
// left to express, and a misconfiguration refused at registration. The PDS's
// tests/direct-routes.test.ts holds the real write methods to express's answers.

const shellWith = (methods: string[]) =>
  new ServiceShell({
    version: 'test',
    logger: pino({ enabled: false }),
    xrpc: { validateResponses: true, jsonLimit: 1000 },
    errorParser: (err) => XRPCError.fromError(err),
    direct: { methods },
  })

let shell: ServiceShell
let url: string

beforeAll(async () => {
  shell = shellWith(['com.atproto.server.createSession'])
  shell.xrpc.add(com.atproto.server.createSession, {
    handler: async ({ input }) => ({
      encoding: 'application/json',
      body: { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', handle: `${input.body.identifier}.test`, accessJwt: 'a', refreshJwt: 'r' },
    }),
  })
  url = `http://127.0.0.1:${await shell.listen(0, '127.0.0.1')}/xrpc/com.atproto.server.createSession`
})
afterAll(() => shell.close())

const post = async (path: string, body: string, type = 'application/json') => {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': type }, body })
  return { status: res.status, type: res.headers.get('content-type'), cors: res.headers.get('access-control-allow-origin'), body: (await res.json()) as Record<string, unknown> }
}

test('a JSON procedure is answered directly, and the same request through express gets the same answer', async () => {
  const before = shell.directRequests
  const body = JSON.stringify({ identifier: 'alice', password: 'x' })
  const direct = await post('', body)
  expect(shell.directRequests).toBe(before + 1)
  const viaExpress = await post('?via=express', body)
  expect(shell.directRequests).toBe(before + 1)
  expect(direct).toEqual({ status: 200, type: 'application/json; charset=utf-8', cors: '*', body: { did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', handle: 'alice.test', accessJwt: 'a', refreshJwt: 'r' } })
  expect(viaExpress).toEqual(direct)
})

test('invalid input is refused alike; a body over the limit is left to express', async () => {
  const before = shell.directRequests
  const invalid = JSON.stringify({ identifier: 5 })
  const direct = await post('', invalid)
  expect(direct.status).toBe(400)
  expect(direct.body.error).toBe('InvalidRequest')
  expect(await post('?via=express', invalid)).toEqual(direct)
  const big = await post('', JSON.stringify({ identifier: 'x'.repeat(2000), password: 'x' }))
  expect(big.status).toBe(413)
  expect(shell.directRequests).toBe(before + 1)
})

test('a query cannot be made a direct route', () => {
  const other = shellWith(['com.atproto.server.describeServer'])
  expect(() =>
    other.xrpc.add(com.atproto.server.describeServer, {
      handler: async () => ({ encoding: 'application/json', body: { did: 'did:web:x', availableUserDomains: [] } }),
    }),
  ).toThrow('direct routes are for procedures; com.atproto.server.describeServer is a query')
})

test("the ETag is express's own, for both of its settings and every body size", async () => {
  const { default: express } = await import('express')
  const { etagFunction } = await import('../src/xrpc-direct.ts')
  const bodies = [Buffer.alloc(0), Buffer.from('{"a":1}'), Buffer.from('é'.repeat(5000)), Buffer.alloc(70_000, 7)]
  for (const setting of [true, 'weak', 'strong'] as const) {
    const app = express()
    app.set('etag', setting)
    const expressFn = app.get('etag fn') as (body: Buffer) => string
    const ours = etagFunction(app)!
    expect(ours).not.toBe(expressFn)
    for (const body of bodies) expect(ours(body)).toBe(expressFn(body))
  }
  const off = express()
  off.set('etag', false)
  expect(etagFunction(off)).toBeUndefined()
})

test('a body that arrives in several pieces is read whole; a client that goes away mid-body gets no answer and leaves no error', async () => {
  const http = await import('node:http')
  const net = await import('node:net')
  const { port } = new URL(url)
  const before = shell.directRequests
  const body = JSON.stringify({ identifier: 'slow', password: 'x' })
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = ''
      res.on('data', (c) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode!, body: text }))
    })
    req.on('error', reject)
    req.write(body.slice(0, 10))
    setTimeout(() => req.end(body.slice(10)), 50)
  })
  expect(answer.status).toBe(200)
  expect(JSON.parse(answer.body).handle).toBe('slow.test')
  expect(shell.directRequests).toBe(before + 1)

  // half a body, then the connection is cut: the route gives up quietly and the server goes on
  await new Promise<void>((resolve) => {
    const sock = net.connect(Number(port), '127.0.0.1', () => {
      sock.write(`POST /xrpc/com.atproto.server.createSession HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 5)}`)
      setTimeout(() => {
        sock.destroy()
        resolve()
      }, 50)
    })
  })
  expect(shell.directRequests).toBe(before + 2)
  expect((await post('', body)).status).toBe(200)
})
