/**
 * The PDS builds and signs its did:plc operations itself (src/identity/plc-ops.ts).
 * Every function is held to @did-plc/lib's, byte for byte, over random
 * inputs (the rotation key signs deterministically, RFC 6979, so the same
 * operation gets the same signature); then the client runs against our PLC
 * directory, which validates each operation with @did-plc/lib.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import * as plcLib from '@did-plc/lib'
import { Secp256k1Keypair } from '@atproto/crypto'
import { PlcServer, envToConfig as plcConfig } from '@atsuite/plc'
import {
  PlcClient,
  PlcClientError,
  createPlcOp,
  didForGenesis,
  normalizePlcOp,
  plcOpCid,
  updatePlcOp,
  withHandle,
  type LegacyCreateOp,
  type PlcOp,
} from '../src/identity/plc-ops.ts'
import { PlcIdentity } from '../src/identity/plc.ts'
import { InvalidRequest } from '../src/errors.ts'

// a small deterministic generator, so a failure names its seed
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = <T>(r: () => number, xs: T[]): T => xs[Math.floor(r() * xs.length)]
const word = (r: () => number): string => {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789-é'
  let s = 'a'
  for (let i = 0, n = 1 + Math.floor(r() * 12); i < n; i++) s += pick(r, [...chars])
  return s
}
const handleLike = (r: () => number): string => pick(r, ['', 'at://', 'http://', 'https://']) + `${word(r)}.${pick(r, ['test', 'bsky.social', 'example.com'])}`
const endpointLike = (r: () => number): string => pick(r, ['', 'http://', 'https://']) + `${word(r)}.example:${1 + Math.floor(r() * 65535)}`

let keys: Secp256k1Keypair[]
beforeAll(async () => {
  keys = await Promise.all(Array.from({ length: 6 }, () => Secp256k1Keypair.create()))
})

test('genesis operations and their DIDs are @did-plc/lib’s', async () => {
  for (let seed = 1; seed <= 60; seed++) {
    const r = rng(seed)
    const signer = pick(r, keys)
    const rotationKeys = Array.from({ length: 1 + Math.floor(r() * 4) }, () => pick(r, keys).did())
    const opts = { signingKey: pick(r, keys).did(), handle: handleLike(r), pds: endpointLike(r), rotationKeys }
    const theirs = await plcLib.createOp({ ...opts, signer })
    const ours = await createPlcOp({ ...opts, signer })
    expect({ seed, ...ours }).toEqual({ seed, ...theirs })
    expect(didForGenesis(ours.op)).toBe(await plcLib.didForCreateOp(theirs.op))
    expect(await plcOpCid(ours.op)).toBe((await plcLib.getLastOpWithCid([theirs.op])).cid.toString())
  }
})

test('updates (handle, signing key, any field change) are @did-plc/lib’s, from current and legacy last operations', async () => {
  for (let seed = 100; seed < 160; seed++) {
    const r = rng(seed)
    const signer = pick(r, keys)
    let last: PlcOp | LegacyCreateOp
    if (r() < 0.25) {
      // a legacy genesis, as old logs begin
      last = (await plcLib.signOperation(
        { type: 'create', signingKey: pick(r, keys).did(), recoveryKey: pick(r, keys).did(), handle: handleLike(r), service: endpointLike(r), prev: null } as never,
        signer,
      )) as unknown as LegacyCreateOp
      expect(normalizePlcOp(last)).toEqual(plcLib.normalizeOp(last as never))
    } else {
      const aka = Array.from({ length: Math.floor(r() * 3) }, () => pick(r, [`at://${word(r)}.test`, `https://${word(r)}.example`]))
      last = (await plcLib.signOperation(
        {
          type: 'plc_operation',
          rotationKeys: [pick(r, keys).did(), signer.did()],
          verificationMethods: { atproto: pick(r, keys).did(), ...(r() < 0.3 ? { other: pick(r, keys).did() } : {}) },
          alsoKnownAs: aka,
          services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: `https://${word(r)}.example` } },
          prev: r() < 0.5 ? null : (await plcOpCid({ seed })).toString(),
        },
        signer,
      )) as unknown as PlcOp
    }
    const handle = handleLike(r)
    expect(await updatePlcOp(last, signer, (c) => ({ ...c, alsoKnownAs: withHandle(c.alsoKnownAs, handle) }))).toEqual(
      await plcLib.updateHandleOp(last as never, signer, handle),
    )
    const key = pick(r, keys).did()
    expect(await updatePlcOp(last, signer, (c) => ({ ...c, verificationMethods: { ...c.verificationMethods, atproto: key } }))).toEqual(
      await plcLib.updateAtprotoKeyOp(last as never, signer, key),
    )
    const endpoint = endpointLike(r)
    const services = { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: `https://${endpoint.replace(/^https?:\/\//, '')}` } }
    expect(await updatePlcOp(last, signer, (c) => ({ ...c, services }))).toEqual(
      await plcLib.createUpdateOp(last as never, signer, (c) => ({ ...c, services })),
    )
  }
})

describe('against our PLC directory', () => {
  let dir: string
  let plc: PlcServer
  let url: string
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plc-ops-'))
    plc = await PlcServer.create(plcConfig({ port: 0, host: '127.0.0.1', dataDirectory: dir }))
    await plc.start()
    url = `http://127.0.0.1:${plc.port}`
  })
  afterAll(async () => {
    await plc.destroy()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  test('create, update the handle and signing key, sign an update: the directory accepts each and serves the result', async () => {
    const rotation = await Secp256k1Keypair.create()
    const identity = new PlcIdentity(`${url}/`, rotation)
    const recovery = (await Secp256k1Keypair.create()).did()
    const { did, op } = await identity.formatCreate({ signingKeyDid: keys[0].did(), handle: 'alice.test', pdsUrl: 'https://pds.example', recoveryKey: recovery })
    await identity.send(did, op)
    expect(await identity.getData(did)).toEqual({
      did,
      rotationKeys: [recovery, rotation.did()],
      verificationMethods: { atproto: keys[0].did() },
      alsoKnownAs: ['at://alice.test'],
      services: { atproto_pds: { type: 'AtprotoPersonalDataServer', endpoint: 'https://pds.example' } },
    })
    await identity.updateHandle(did, 'alice2.test')
    await identity.updateAtprotoKey(did, keys[1].did())
    const data = await identity.getData(did)
    expect(data.alsoKnownAs).toEqual(['at://alice2.test'])
    expect(data.verificationMethods).toEqual({ atproto: keys[1].did() })

    const signed = await identity.signUpdate(did, { alsoKnownAs: ['at://alice3.test', 'https://alice.example'] })
    const last = (await new PlcClient(url).getLastOp(did)) as PlcOp
    expect(signed.prev).toBe(await plcOpCid(last))
    await identity.send(did, signed)
    expect((await identity.getData(did)).alsoKnownAs).toEqual(['at://alice3.test', 'https://alice.example'])

    // an update by a key that is no rotation key of the document
    const stranger = new PlcIdentity(url, await Secp256k1Keypair.create())
    await expect(stranger.signUpdate(did, {})).rejects.toThrow(InvalidRequest)
    await expect(stranger.updateHandle(did, 'mallory.test')).rejects.toThrow(/PLC directory refused the operation: .+/)
  })

  test('the directory’s refusals and misses arrive as PlcClientError with its status and message', async () => {
    const client = new PlcClient(url)
    const missing = 'did:plc:' + 'a'.repeat(24)
    const notFound = await client.getDocumentData(missing).catch((e: unknown) => e)
    expect(notFound).toBeInstanceOf(PlcClientError)
    expect((notFound as PlcClientError).status).toBe(404)
    expect((notFound as PlcClientError).message).toMatch(/.+/)

    const { did, op } = await createPlcOp({ signingKey: keys[0].did(), handle: 'bob.test', pds: 'https://pds.example', rotationKeys: [keys[2].did()], signer: keys[2] })
    const forged = { ...op, sig: Buffer.from(crypto.randomBytes(64)).toString('base64url') }
    const refused = await client.sendOperation(did, forged).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(PlcClientError)
    expect((refused as PlcClientError).status).toBe(400)
    expect((refused as PlcClientError).message).toMatch(/signature/i)
    await client.sendOperation(did, op)
    expect((await client.getLastOp(did)) as PlcOp).toEqual(op)
  })

  test('a directory that does not answer is an error, not a hang', async () => {
    const closed = new PlcClient('http://127.0.0.1:1')
    await expect(closed.getLastOp('did:plc:' + 'b'.repeat(24))).rejects.toThrow(/ECONNREFUSED/)
  })
})
