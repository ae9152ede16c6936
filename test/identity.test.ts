/**
 * Identity on the whole network: updateHandle to the same handle still
 * announces it; custom-domain handles (looked up through an injected
 * resolver standing in for DNS / the domain's well-known) are checked
 * against the DID; a did:web account brings its own document, moves onto our
 * PDS and works end to end; resolveDid / resolveIdentity answer with the
 * lexicon's errors.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Secp256k1Keypair } from '@atproto/crypto'
import { createServiceJwt } from '@atproto/xrpc-server'
import { verifyRepoCar } from '@atproto/repo'
import { Client as PlcLibClient, signOperation } from '@did-plc/lib'
import { TestNetwork, type TestFirehose, type TestUser } from '@atsuite/dev-env'
import { post, relayConsumer } from './_util.ts'

/** What "DNS" says: handle → DID. */
const dns = new Map<string, string>()
let net: TestNetwork
let alice: TestUser
const consumers: TestFirehose[] = []

const identityEvents = (c: TestFirehose, did: string) => c.events.filter((e) => e.event === 'identity' && e.did === did)

beforeAll(async () => {
  net = await TestNetwork.create({ appview: true, overrides: { handleResolver: { resolve: async (h) => dns.get(h) } } })
  alice = await net.createUser('alice')
})

afterAll(async () => {
  for (const c of consumers) await c.destroy()
  await net?.close()
})

test('updateHandle to the current handle changes nothing but is announced', async () => {
  const c = relayConsumer(net, await net.processAll())
  consumers.push(c)
  await alice.agent.com.atproto.identity.updateHandle({ handle: alice.handle })
  await c.waitUntil(() => identityEvents(c, alice.did).length === 1, 'the #identity event')
  const doc = await net.pds.ctx.plc.getData(alice.did)
  expect(doc.alsoKnownAs).toEqual([`at://${alice.handle}`])
})

test('a custom-domain handle must point at the DID', async () => {
  await expect(alice.agent.com.atproto.identity.updateHandle({ handle: 'alice.example.com' })).rejects.toThrow(
    /_atproto\.alice\.example\.com/,
  )
  dns.set('alice.example.com', 'did:plc:someoneelse234567abcdefg')
  await expect(alice.agent.com.atproto.identity.updateHandle({ handle: 'alice.example.com' })).rejects.toMatchObject({
    error: 'InvalidHandle',
  })
  dns.set('alice.example.com', alice.did)
  const c = relayConsumer(net, await net.processAll())
  consumers.push(c)
  await alice.agent.com.atproto.identity.updateHandle({ handle: 'alice.example.com' })
  expect((await net.pds.ctx.plc.getData(alice.did)).alsoKnownAs).toEqual(['at://alice.example.com'])
  await c.waitUntil(() => identityEvents(c, alice.did).length === 1, 'the #identity event')
  const anon = net.agent()
  expect((await anon.com.atproto.identity.resolveHandle({ handle: 'alice.example.com' })).data.did).toBe(alice.did)
  const info = await anon.com.atproto.identity.resolveIdentity({ identifier: alice.did })
  expect(info.data).toMatchObject({ did: alice.did, handle: 'alice.example.com' })
  // the domain stops pointing here: the identity's handle is invalid, not a lie
  dns.delete('alice.example.com')
  expect((await anon.com.atproto.identity.resolveIdentity({ identifier: alice.did })).data.handle).toBe('handle.invalid')
  await expect(anon.com.atproto.identity.resolveIdentity({ identifier: 'alice.example.com' })).rejects.toMatchObject({
    error: 'HandleNotFound',
  })
  await expect(anon.com.atproto.identity.resolveDid({ did: 'did:plc:nobodyhere234567abcdefgh' })).rejects.toMatchObject({
    error: 'DidNotFound',
  })
})

test('a did:web account: its own document, moved onto our PDS, works end to end', async () => {
  const key = await Secp256k1Keypair.create()
  let doc: Record<string, unknown> = {}
  const server = http.createServer((req, res) => {
    if (req.url !== '/.well-known/did.json') return void res.writeHead(404).end()
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const port = (server.address() as AddressInfo).port
    const did = `did:web:localhost%3A${port}`
    const docFor = (signingKey: string, endpoint: string, handle: string) => ({
      '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/multikey/v1'],
      id: did,
      alsoKnownAs: [`at://${handle}`],
      verificationMethod: [{ id: `${did}#atproto`, type: 'Multikey', controller: did, publicKeyMultibase: signingKey.replace('did:key:', '') }],
      service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: endpoint }],
    })
    doc = docFor(key.did(), 'https://elsewhere.invalid', 'webby.test')

    const agent = net.agent()
    const token = await createServiceJwt({ iss: did, aud: net.pds.ctx.cfg.service.did, lxm: 'com.atproto.server.createAccount', keypair: key })
    await agent.com.atproto.server.createAccount(
      { did, handle: 'webby.test', email: 'webby@example.com', password: 'webby-password' },
      { headers: { authorization: `Bearer ${token}` } },
    )
    await agent.login({ identifier: did, password: 'webby-password' })
    const creds = (await agent.com.atproto.identity.getRecommendedDidCredentials()).data
    expect(creds.rotationKeys).toBeUndefined()
    await expect(agent.com.atproto.identity.requestPlcOperationSignature()).rejects.toThrow(/not a did:plc/)
    await expect(agent.com.atproto.server.activateAccount()).rejects.toThrow(/elsewhere\.invalid/)

    // the user publishes what the PDS recommends
    const services = creds.services as { atproto_pds: { endpoint: string } }
    doc = docFor((creds.verificationMethods as { atproto: string }).atproto, services.atproto_pds.endpoint, 'webby.test')
    await agent.com.atproto.server.activateAccount()
    const written = await post(agent, 'hello from a did:web')
    const car = await agent.com.atproto.sync.getRepo({ did })
    const repo = await verifyRepoCar(car.data, did, (creds.verificationMethods as { atproto: string }).atproto)
    expect(repo.creates.map((c) => `at://${did}/${c.collection}/${c.rkey}`)).toContain(written.uri)
    expect((await net.agent().com.atproto.identity.resolveIdentity({ identifier: did })).data).toMatchObject({ did, handle: 'webby.test' })

    // the relay and the app view take it like any other account
    await net.processAll()
    const seen = await net.appviewAgent().app.bsky.feed.getPosts({ uris: [written.uri] })
    expect(seen.data.posts.map((p) => p.uri)).toEqual([written.uri])
  } finally {
    server.close()
  }
})

test('a recovery key given at createAccount overrides the server’s operations within 72 hours', async () => {
  const recovery = await Secp256k1Keypair.create()
  const agent = net.agent()
  await agent.createAccount({ handle: 'rescued.test', email: 'rescued@example.com', password: 'rescued-password', recoveryKey: recovery.did() })
  const did = agent.session!.did
  const plc = net.pds.ctx.plc
  const genesis = await plc.getData(did)
  // the user's key outranks the server's
  expect(genesis.rotationKeys).toEqual([recovery.did(), plc.rotationKeyDid])

  // the server changes the document (say, a compromised server moving the handle)
  await agent.com.atproto.identity.updateHandle({ handle: 'hijacked.test' })
  // read with @did-plc/lib's client (the PDS's own only writes)
  const directory = new PlcLibClient(net.plc.url)
  const log = await directory.getAuditableLog(did)
  expect(log).toHaveLength(2)

  // the user signs a fork from the genesis op with the recovery key: the server's op is nullified
  const op = await signOperation(
    {
      type: 'plc_operation',
      rotationKeys: [recovery.did()],
      verificationMethods: genesis.verificationMethods,
      alsoKnownAs: ['at://rescued.test'],
      services: genesis.services,
      prev: log[0].cid,
    },
    { did: () => recovery.did(), sign: (msg: Uint8Array) => recovery.sign(msg) } as never,
  )
  await directory.sendOperation(did, op)
  const after = await plc.getData(did)
  expect(after).toMatchObject({ rotationKeys: [recovery.did()], alsoKnownAs: ['at://rescued.test'] })
  const audit = await directory.getAuditableLog(did)
  expect(audit.filter((e) => e.nullified).map((e) => e.cid)).toEqual([log[1].cid])
  // the server's key can no longer sign for the account, and says so
  await expect(agent.com.atproto.identity.updateHandle({ handle: 'again.test' })).rejects.toThrow(/rotation key/)
})
