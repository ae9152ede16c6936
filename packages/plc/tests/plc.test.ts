import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { P256Keypair, Secp256k1Keypair } from '@atproto/crypto'
import { IdResolver } from '@atproto/identity'
import {
  Client,
  PlcClientError,
  addSignature,
  createOp,
  createUpdateOp,
  updateHandleOp,
  type CompatibleOpOrTombstone,
  type Operation,
} from '@did-plc/lib'
import { cidForLex } from '@atproto/lex-cbor'
import { PlcServer, exportOps, type PlcOverrides } from '../src/index.ts'

type Reply = { status: number; contentType: string | null; body: unknown }

const HOUR = 60 * 60 * 1000

let tmpDir: string
let dbFile: string
let server: PlcServer
let client: Client

const startServer = async (dbLocation: string, overrides: PlcOverrides = {}): Promise<PlcServer> => {
  const s = await PlcServer.create({ port: 0, host: '127.0.0.1', dbLocation }, overrides)
  await s.start()
  return s
}

const request = async (url: string, init?: RequestInit): Promise<Reply> => {
  const res = await fetch(url, init)
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, contentType: res.headers.get('content-type'), body }
}

const postRaw = (base: string, did: string, body: string): Promise<Reply> =>
  request(`${base}/${encodeURIComponent(did)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  })

const postOp = (base: string, did: string, op: unknown): Promise<Reply> => postRaw(base, did, JSON.stringify(op))

// @atproto/identity's default fetch refuses http, IP hosts and custom ports
// (SSRF protection); a loopback test network must hand it a plain fetch.
const resolverFor = (plcUrl: string): IdResolver => new IdResolver({ plcUrl, fetch: globalThis.fetch })

const errorOf = (reply: Reply): { error: string; message: string } => reply.body as { error: string; message: string }

const asOp = (op: CompatibleOpOrTombstone): Operation => {
  if (op.type !== 'plc_operation') throw new Error(`expected a plc_operation, got ${op.type}`)
  return op
}

/** A fresh DID: rotation keys [recovery, rotation] (recovery outranks rotation). */
const newAccount = async (handle: string) => {
  const signing = await Secp256k1Keypair.create()
  const recovery = await Secp256k1Keypair.create()
  const rotation = await Secp256k1Keypair.create()
  const did = await client.createDid({
    signingKey: signing.did(),
    handle,
    pds: 'http://pds.test:2583',
    rotationKeys: [recovery.did(), rotation.did()],
    signer: rotation,
  })
  return { did, signing, recovery, rotation }
}

beforeAll(async () => {
  tmpDir = mkdtempSync(path.join(os.tmpdir(), 'plc-test-'))
  dbFile = path.join(tmpDir, 'nested', 'plc.sqlite')
  server = await startServer(dbFile)
  client = new Client(server.url)
})

afterAll(async () => {
  await server?.destroy()
  rmSync(tmpDir, { recursive: true, force: true })
})

describe('create, resolve, update', () => {
  test('a DID created with @did-plc/lib resolves through @atproto/identity', async () => {
    const { did, signing, recovery, rotation } = await newAccount('alice.test')
    expect(did).toMatch(/^did:plc:[a-z2-7]{24}$/)

    const resolver = resolverFor(server.url)
    const data = await resolver.did.resolveAtprotoData(did)
    expect(data).toEqual({
      did,
      signingKey: signing.did(),
      handle: 'alice.test',
      pds: 'http://pds.test:2583',
    })

    const docReply = await request(`${server.url}/${did}`)
    expect(docReply.status).toBe(200)
    expect(docReply.contentType).toMatch(/^application\/did\+ld\+json/)
    expect(docReply.body).toEqual({
      '@context': [
        'https://www.w3.org/ns/did/v1',
        'https://w3id.org/security/multikey/v1',
        'https://w3id.org/security/suites/secp256k1-2019/v1',
      ],
      id: did,
      alsoKnownAs: ['at://alice.test'],
      verificationMethod: [
        {
          id: `${did}#atproto`,
          type: 'Multikey',
          controller: did,
          publicKeyMultibase: signing.did().slice('did:key:'.length),
        },
      ],
      service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: 'http://pds.test:2583' }],
    })

    const docData = await client.getDocumentData(did)
    expect(docData).toEqual({
      did,
      rotationKeys: [recovery.did(), rotation.did()],
      verificationMethods: { atproto: signing.did() },
      alsoKnownAs: ['at://alice.test'],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'http://pds.test:2583' } },
    })
  })

  test('handle and PDS updates chain through prev', async () => {
    const { did, rotation } = await newAccount('bob.test')
    await client.updateHandle(did, rotation, 'bobby.test')
    await client.updatePds(did, rotation, 'https://pds2.test')

    const resolver = resolverFor(server.url)
    const data = await resolver.did.resolveAtprotoData(did, true)
    expect(data.handle).toBe('bobby.test')
    expect(data.pds).toBe('https://pds2.test')

    const log = await client.getOperationLog(did)
    expect(log).toHaveLength(3)
    const audit = await client.getAuditableLog(did)
    expect(audit.map((e) => e.nullified)).toEqual([false, false, false])
    // each prev was computed by the client (@did-plc/lib's own dag-cbor); each cid by the server
    for (let i = 1; i < audit.length; i++) {
      expect(audit[i].operation.prev).toBe(audit[i - 1].cid)
      expect(audit[i].createdAt > audit[i - 1].createdAt).toBe(true)
    }
    const last = await client.getLastOp(did)
    expect(last).toEqual(audit[2].operation)
  })

  test('unknown DID: 404 with message', async () => {
    const did = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
    for (const suffix of ['', '/data', '/log', '/log/audit', '/log/last']) {
      const reply = await request(`${server.url}/${did}${suffix}`)
      expect(reply.status).toBe(404)
      expect(errorOf(reply).message).toBe(`DID not registered: ${did}`)
    }
    await expect(client.getDocumentData(did)).rejects.toMatchObject({ status: 404 })
  })

  test('re-posting the current op is a no-op', async () => {
    const { did, rotation } = await newAccount('carol.test')
    const op = await updateHandleOp(asOp(await client.getLastOp(did)), rotation, 'carol2.test')
    expect((await postOp(server.url, did, op)).status).toBe(200)
    expect((await postOp(server.url, did, op)).status).toBe(200)
    expect(await client.getAuditableLog(did)).toHaveLength(2)
  })
})

describe('rejected operations: 400 with { error, message }', () => {
  test('bad signature', async () => {
    const { did, rotation } = await newAccount('dave.test')
    const op = await updateHandleOp(asOp(await client.getLastOp(did)), rotation, 'mallory.test')
    const tampered = { ...op, alsoKnownAs: ['at://eve.test'] } // signed content changed
    const reply = await postOp(server.url, did, tampered)
    expect(reply.status).toBe(400)
    expect(errorOf(reply).error).toBe('InvalidSignature')

    const flipped = { ...op, sig: (op.sig[0] === 'A' ? 'B' : 'A') + op.sig.slice(1) }
    expect((await postOp(server.url, did, flipped)).status).toBe(400)

    await expect(client.sendOperation(did, tampered)).rejects.toBeInstanceOf(PlcClientError)
    expect(await client.getOperationLog(did)).toHaveLength(1)
  })

  test('prev that is not an op of this DID', async () => {
    const a = await newAccount('erin.test')
    const b = await newAccount('frank.test')
    const otherLast = asOp(await client.getLastOp(b.did))
    // correctly signed by a's rotation key, but prev points into b's log
    const op = await updateHandleOp(otherLast, a.rotation, 'erin2.test')
    const reply = await postOp(server.url, a.did, op)
    expect(reply.status).toBe(400)
    expect(errorOf(reply).error).toBe('MisorderedOperation')

    const { sig: _sig, ...unsigned } = op
    const garbagePrev = await addSignature({ ...unsigned, prev: 'not-a-cid' }, a.rotation)
    const reply2 = await postOp(server.url, a.did, garbagePrev)
    expect(reply2.status).toBe(400)
    expect(errorOf(reply2).error).toBe('InvalidOperation')
  })

  test('op signed by a key that is not a rotation key', async () => {
    const { did, signing } = await newAccount('grace.test')
    const op = await updateHandleOp(asOp(await client.getLastOp(did)), signing, 'grace2.test')
    const reply = await postOp(server.url, did, op)
    expect(reply.status).toBe(400)
    expect(errorOf(reply).error).toBe('InvalidSignature')
  })

  test('genesis op posted under a DID it does not hash to', async () => {
    const key = await Secp256k1Keypair.create()
    const { op, did } = await createOp({
      signingKey: key.did(),
      handle: 'heidi.test',
      pds: 'https://pds.test',
      rotationKeys: [key.did()],
      signer: key,
    })
    const wrongDid = `did:plc:${did.slice(-24).split('').reverse().join('')}`
    const reply = await postOp(server.url, wrongDid, op)
    expect(reply.status).toBe(400)
    expect(errorOf(reply).error).toBe('GenesisHashMismatch')
    // a longer identifier that merely starts with the right hash is not the DID either
    const longer = await postOp(server.url, `${did}aaaa`, op)
    expect(longer.status).toBe(400)
    expect(errorOf(longer).error).toBe('InvalidDid')
    expect((await request(`${server.url}/${wrongDid}`)).status).toBe(404)
    // the right DID still works
    expect((await postOp(server.url, did, op)).status).toBe(200)
  })

  test('garbage and malformed bodies never cause a 500', async () => {
    const did = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb'
    const bodies = [
      '{not json',
      '',
      'null',
      '"a string"',
      '[]',
      '{}',
      '{"type":"plc_operation"}',
      '{"type":"plc_tombstone","prev":"x","sig":"y"}',
      '{"type":"create","signingKey":"did:key:x","recoveryKey":"did:key:x","handle":"h","service":"s","prev":null,"sig":"z"}',
      JSON.stringify({
        type: 'plc_operation',
        rotationKeys: ['did:key:nonsense'],
        verificationMethods: {},
        alsoKnownAs: [],
        services: {},
        prev: null,
        sig: 'A'.repeat(86),
      }),
      JSON.stringify({ type: 'plc_operation', rotationKeys: 5 }),
    ]
    for (const body of bodies) {
      const reply = await postRaw(server.url, did, body)
      expect({ body, status: reply.status }).toEqual({ body, status: 400 })
      expect(typeof errorOf(reply).message).toBe('string')
      expect(typeof errorOf(reply).error).toBe('string')
    }
    const badDid = await postOp(server.url, 'did:web:example.com', {})
    expect(badDid.status).toBe(400)
    const huge = await postRaw(server.url, did, JSON.stringify({ pad: 'x'.repeat(100_000) }))
    expect(huge.status).toBe(413)
  })

  test('a high-S (malleated) signature is refused even though @did-plc/lib accepts it', async () => {
    const p256 = await P256Keypair.create()
    const signing = await Secp256k1Keypair.create()
    const did = await client.createDid({
      signingKey: signing.did(),
      handle: 'ivan.test',
      pds: 'https://pds.test',
      rotationKeys: [p256.did()],
      signer: p256,
    })
    const op = await updateHandleOp(asOp(await client.getLastOp(did)), p256, 'ivan2.test')
    const sig = Buffer.from(op.sig, 'base64url')
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n
    const s = BigInt('0x' + sig.subarray(32).toString('hex'))
    const highS = Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex')
    const malleated = { ...op, sig: Buffer.concat([sig.subarray(0, 32), highS]).toString('base64url') }
    const reply = await postOp(server.url, did, malleated)
    expect(reply.status).toBe(400)
    expect(errorOf(reply).error).toBe('InvalidSignature')
    expect(errorOf(reply).message).toMatch(/canonical/) // refused by the strict check, not the lib
    expect((await postOp(server.url, did, op)).status).toBe(200)
  })
})

describe('nullification and tombstones', () => {
  test('a higher-priority rotation key can fork within 72 h; the audit log marks the nullified op', async () => {
    const { did, recovery, rotation } = await newAccount('judy.test')
    const genesis = asOp((await client.getOperationLog(did))[0])

    // the lower-priority key takes over the handle...
    const hijack = await updateHandleOp(genesis, rotation, 'hijacked.test')
    expect((await postOp(server.url, did, hijack)).status).toBe(200)

    // ...the same key cannot fork away from it...
    const sameRank = await updateHandleOp(genesis, rotation, 'other.test')
    const refused = await postOp(server.url, did, sameRank)
    expect(refused.status).toBe(400)
    expect(errorOf(refused).error).toBe('InvalidSignature')

    // ...but the recovery key (index 0) can, from the genesis op
    const recover = await createUpdateOp(genesis, recovery, (normalized) => ({
      ...normalized,
      alsoKnownAs: ['at://judy.test'],
      rotationKeys: [recovery.did()],
    }))
    expect((await postOp(server.url, did, recover)).status).toBe(200)

    const audit = await client.getAuditableLog(did)
    expect(audit.map((e) => [e.operation.type, e.nullified])).toEqual([
      ['plc_operation', false],
      ['plc_operation', true],
      ['plc_operation', false],
    ])
    expect(audit[1].cid).toBe((await cidForLex(hijack)).toString())
    expect(await client.getOperationLog(did)).toEqual([genesis, recover])
    const data = await client.getDocumentData(did)
    expect(data.alsoKnownAs).toEqual(['at://judy.test'])
    expect(data.rotationKeys).toEqual([recovery.did()])

    // the nullified op cannot be re-submitted
    expect((await postOp(server.url, did, hijack)).status).toBe(400)
  })

  test('a fork more than 72 h after the first nullified op is refused', async () => {
    let now = new Date(Date.now() - 73 * HOUR)
    const s = await startServer(':memory:', { clock: () => now })
    try {
      const c = new Client(s.url)
      const signing = await Secp256k1Keypair.create()
      const recovery = await Secp256k1Keypair.create()
      const rotation = await Secp256k1Keypair.create()
      const did = await c.createDid({
        signingKey: signing.did(),
        handle: 'kim.test',
        pds: 'https://pds.test',
        rotationKeys: [recovery.did(), rotation.did()],
        signer: rotation,
      })
      const genesis = asOp((await c.getOperationLog(did))[0])
      await c.updateHandle(did, rotation, 'stolen.test')
      now = new Date()
      const late = await updateHandleOp(genesis, recovery, 'kim.test')
      const reply = await postOp(s.url, did, late)
      expect(reply.status).toBe(400)
      expect(errorOf(reply).error).toBe('LateRecovery')
    } finally {
      await s.destroy()
    }
  })

  test('tombstone: 410 for the document, the log keeps it, nothing can follow it', async () => {
    const { did, rotation } = await newAccount('liam.test')
    const before = asOp(await client.getLastOp(did))
    await client.tombstone(did, rotation)

    const doc = await request(`${server.url}/${did}`)
    expect(doc.status).toBe(410)
    expect(errorOf(doc).message).toBe(`DID not available: ${did}`)
    expect((await request(`${server.url}/${did}/data`)).status).toBe(410)
    expect((await client.getLastOp(did)).type).toBe('plc_tombstone')
    expect(await client.getOperationLog(did)).toHaveLength(2)

    const tombCid = (await cidForLex(await client.getLastOp(did))).toString()
    const { sig: _sig, ...unsigned } = before
    const resurrect = await addSignature({ ...unsigned, alsoKnownAs: ['at://liam2.test'], prev: tombCid }, rotation)
    const reply = await postOp(server.url, did, resurrect)
    expect(reply.status).toBe(400)
    expect(errorOf(reply).error).toBe('MisorderedOperation')

    // a tombstone signed by a non-rotation key is refused like any op
    const other = await newAccount('mia.test')
    const lastCid = (await cidForLex(await client.getLastOp(other.did))).toString()
    const signedBySigningKey = await addSignature({ type: 'plc_tombstone', prev: lastCid }, other.signing)
    expect((await postOp(server.url, other.did, signedBySigningKey)).status).toBe(400)
  })
})

describe('concurrency', () => {
  test('two ops extending the same prev at once: exactly one is accepted', async () => {
    const { did, rotation } = await newAccount('nina.test')
    const last = asOp(await client.getLastOp(did))
    const ops = await Promise.all(
      ['n1.test', 'n2.test', 'n3.test', 'n4.test'].map((h) => updateHandleOp(last, rotation, h)),
    )
    const replies = await Promise.all(ops.map((op) => postOp(server.url, did, op)))
    expect(replies.map((r) => r.status).sort()).toEqual([200, 400, 400, 400])
    expect(await client.getOperationLog(did)).toHaveLength(2)
    expect(await client.getAuditableLog(did)).toHaveLength(2)
  })
})

describe('export', () => {
  test('pages through every op in order with after=<createdAt>', async () => {
    const s = await startServer(':memory:')
    try {
      const c = new Client(s.url)
      const key = await Secp256k1Keypair.create()
      const dids: string[] = []
      for (let i = 0; i < 4; i++) {
        const did = await c.createDid({
          signingKey: key.did(),
          handle: `user${i}.test`,
          pds: 'https://pds.test',
          rotationKeys: [key.did()],
          signer: key,
        })
        await c.updateHandle(did, key, `renamed${i}.test`)
        dids.push(did)
      }

      const raw = await request(`${s.url}/export?count=3`)
      expect(raw.status).toBe(200)
      expect(raw.contentType).toMatch(/^application\/jsonlines/)

      const seen: { did: string; cid: string; createdAt: string }[] = []
      let after: string | undefined
      for (;;) {
        const page = await exportOps(s.url, { after, count: 3 })
        if (page.length === 0) break
        expect(page.length).toBeLessThanOrEqual(3)
        seen.push(...page)
        after = page[page.length - 1].createdAt
      }
      expect(seen).toHaveLength(8)
      expect(new Set(seen.map((e) => e.cid)).size).toBe(8)
      const times = seen.map((e) => e.createdAt)
      expect([...times].sort()).toEqual(times)
      expect(new Set(seen.map((e) => e.did))).toEqual(new Set(dids))

      expect(await exportOps(s.url, { count: 5000 })).toHaveLength(8)
      expect((await request(`${s.url}/export?count=0`)).status).toBe(400)
      expect((await request(`${s.url}/export?count=abc`)).status).toBe(400)
      expect((await request(`${s.url}/export?after=yesterday`)).status).toBe(400)
      expect(await exportOps(s.url, { after: new Date(Date.now() + HOUR).toISOString() })).toEqual([])
    } finally {
      await s.destroy()
    }
  })
})

describe('persistence and health', () => {
  test('health endpoint', async () => {
    const reply = await request(`${server.url}/_health`)
    expect(reply.status).toBe(200)
    expect(reply.body).toEqual({ version: expect.any(String) })
    expect(await client.health()).toEqual(reply.body)
  })

  test('state survives a restart on the same file, and the log keeps growing', async () => {
    const { did, rotation } = await newAccount('olivia.test')
    await client.updateHandle(did, rotation, 'olivia2.test')
    const auditBefore = await client.getAuditableLog(did)

    await server.destroy()
    server = await startServer(dbFile)
    client = new Client(server.url)

    expect(await client.getAuditableLog(did)).toEqual(auditBefore)
    await client.updateHandle(did, rotation, 'olivia3.test')
    const resolver = resolverFor(server.url)
    expect((await resolver.did.resolveAtprotoData(did)).handle).toBe('olivia3.test')
  })
})
