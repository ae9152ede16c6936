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
