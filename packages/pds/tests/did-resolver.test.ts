/**
 * The PDS resolves DID documents itself (src/identity/did-resolver.ts). Each
 * case here goes to @atproto/identity's resolver too, configured as the PDS
 * had it (plain fetch, no cache): the same document, the same null, a throw
 * where it throws, the same #atproto key. did:plc cases run against our PLC
 * directory, did:web ones against a local host serving /.well-known/did.json.
 */
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { IdResolver } from '@atproto/identity'
import { P256Keypair, Secp256k1Keypair, bytesToMultibase, parseDidKey } from '@atproto/crypto'
import { PlcServer, envToConfig as plcConfig } from '@atsuite/plc'
import { DidDocResolver, DidResolutionError } from '../src/identity/did-resolver.ts'
import { PlcClient, createPlcOp, plcOpCid, signPlcOp, updatePlcOp } from '../src/identity/plc-ops.ts'

let dir: string
let plc: PlcServer
let plcUrl: string
let web: http.Server
let webPort: number
/** what the did:web host serves, by did:web id (`localhost%3A<port>` only: one host) */
let webAnswer: { status: number; body: string }

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'did-resolver-'))
  plc = await PlcServer.create(plcConfig({ port: 0, host: '127.0.0.1', dataDirectory: dir }))
  await plc.start()
  plcUrl = `http://127.0.0.1:${plc.port}`
  web = http.createServer((req, res) => {
    if (req.url !== '/.well-known/did.json') return void res.writeHead(404).end()
    res.writeHead(webAnswer.status, { 'content-type': 'application/json' }).end(webAnswer.body)
  })
  await new Promise<void>((resolve) => web.listen(0, 'localhost', resolve))
  webPort = (web.address() as AddressInfo).port
})

afterAll(async () => {
  await new Promise((resolve) => web.close(resolve))
  await plc.destroy()
  fs.rmSync(dir, { recursive: true, force: true })
})

type Outcome = { doc: unknown } | { threw: true; status?: number }
const outcome = async (f: () => Promise<unknown>): Promise<Outcome> => {
  try {
    return { doc: await f() }
  } catch (err) {
    const status = (err as { status?: number }).status
    return status === undefined ? { threw: true } : { threw: true, status }
  }
}

/** Both resolvers on one DID: documents, atproto keys, and the shape of their failures. */
const same = async (did: string): Promise<Outcome> => {
  const ours = new DidDocResolver(plcUrl)
  const theirs = new IdResolver({ plcUrl, fetch: globalThis.fetch }).did
  const doc = await outcome(() => ours.resolve(did))
  expect({ did, doc }).toEqual({ did, doc: await outcome(() => theirs.resolveNoCache(did)) })
  expect({ did, resolve: doc }).toEqual({ did, resolve: await outcome(() => theirs.resolve(did, true)) })
  const key = await outcome(() => ours.resolveAtprotoKey(did))
  expect({ did, key: 'threw' in key ? 'threw' : key }).toEqual({ did, key: await outcome(() => theirs.resolveAtprotoKey(did)).then((k) => ('threw' in k ? 'threw' : k)) })
  return doc
}

test('did:plc: created, updated, missing, tombstoned, malformed', async () => {
  const rotation = await Secp256k1Keypair.create()
  const client = new PlcClient(plcUrl)
  const { did, op } = await createPlcOp({
    signingKey: (await Secp256k1Keypair.create()).did(),
    handle: 'carol.test',
    pds: 'https://pds.example',
    rotationKeys: [rotation.did()],
    signer: rotation,
  })
  await client.sendOperation(did, op)
  const doc = await same(did)
  expect(doc).toMatchObject({ doc: { id: did, alsoKnownAs: ['at://carol.test'] } })

  // a P-256 signing key
  const p256 = await P256Keypair.create()
  await client.sendOperation(did, await updatePlcOp(op, rotation, (c) => ({ ...c, verificationMethods: { atproto: p256.did() } })))
  expect(await new DidDocResolver(plcUrl).resolveAtprotoKey(did)).toBe(p256.did())
  await same(did)

  expect(await same('did:plc:' + 'z'.repeat(24))).toEqual({ doc: null })
  await same('did:plc:not-base32!')

  // tombstoned: the directory answers 410, and both say so with the status
  const tomb = await signPlcOp({ type: 'plc_tombstone', prev: await plcOpCid(await client.getLastOp(did)) }, rotation)
  await client.sendOperation(did, tomb)
  expect(await same(did)).toEqual({ threw: true, status: 410 })
  await expect(new DidDocResolver(plcUrl).resolve(did)).rejects.toBeInstanceOf(DidResolutionError)
})

test('did:web: documents with each key type, missing, mismatched, malformed; unsupported DIDs', async () => {
  const did = `did:web:localhost%3A${webPort}`
  const k256 = await Secp256k1Keypair.create()
  const p256 = await P256Keypair.create()
  const multibase = (didKey: string) => didKey.slice('did:key:'.length)
  const legacyMultibase = (didKey: string) => bytesToMultibase(parseDidKey(didKey).keyBytes, 'base58btc')
  const docWith = (method: object) => ({
    '@context': ['https://www.w3.org/ns/did/v1'],
    id: did,
    alsoKnownAs: ['at://web.example'],
    verificationMethod: [{ id: `${did}#atproto`, controller: did, ...method }],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'https://pds.example' }],
  })
  const cases: { status: number; body: string }[] = [
    { status: 200, body: JSON.stringify(docWith({ type: 'Multikey', publicKeyMultibase: multibase(k256.did()) })) },
    { status: 200, body: JSON.stringify(docWith({ type: 'Multikey', publicKeyMultibase: multibase(p256.did()) })) },
    { status: 200, body: JSON.stringify(docWith({ type: 'EcdsaSecp256k1VerificationKey2019', publicKeyMultibase: legacyMultibase(k256.did()) })) },
    { status: 200, body: JSON.stringify(docWith({ type: 'EcdsaSecp256r1VerificationKey2019', publicKeyMultibase: legacyMultibase(p256.did()) })) },
    { status: 200, body: JSON.stringify(docWith({ type: 'SomethingElse', publicKeyMultibase: 'zabc' })) },
    { status: 200, body: JSON.stringify({ ...docWith({ type: 'Multikey', publicKeyMultibase: multibase(k256.did()) }), id: 'did:web:elsewhere.example' }) },
    { status: 200, body: JSON.stringify({ id: did, service: 'not a list' }) },
    { status: 200, body: '{"id": ' },
    { status: 200, body: '[]' },
    { status: 404, body: '{}' },
    { status: 500, body: 'oops' },
  ]
  const outcomes = []
  for (const c of cases) {
    webAnswer = c
    outcomes.push(await same(did))
  }
  expect(outcomes.map((o) => ('threw' in o ? 'threw' : o.doc === null ? 'null' : 'doc'))).toEqual([
    'doc', 'doc', 'doc', 'doc', 'doc', 'threw', 'threw', 'threw', 'threw', 'null', 'null',
  ])
  // the keys come out as the did:keys they were made from
  webAnswer = cases[2]
  expect(await new DidDocResolver(plcUrl).resolveAtprotoKey(did)).toBe(k256.did())
  webAnswer = cases[3]
  expect(await new DidDocResolver(plcUrl).resolveAtprotoKey(did)).toBe(p256.did())

  for (const other of [`did:web:localhost%3A${webPort}:some:path`, 'did:example:123', 'did:', 'nope:web:x', `did:web:localhost%3A1`]) {
    await same(other)
  }
  expect(await new DidDocResolver(plcUrl).resolveAtprotoKey(k256.did())).toBe(k256.did())
})

test('handles outside our domains: @atproto/identity’s resolver, loaded at the first lookup; a failed lookup is undefined', async () => {
  const { lazyHandleResolver } = await import('../src/context.ts')
  const started = Date.now()
  expect(await lazyHandleResolver().resolve('nobody.invalid')).toBeUndefined()
  expect(Date.now() - started).toBeLessThan(10_000)
})
