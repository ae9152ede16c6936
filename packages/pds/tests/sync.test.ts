/**
 * The sync API read the way a relay or a backfiller reads it: every CAR is
 * checked with `@atproto/repo` against the signing key in the DID document
 * served by our PLC, never against anything the PDS says about itself.
 */
import { crc32, deflateSync } from 'node:zlib'
import { IdResolver } from '@atproto/identity'
import { Secp256k1Keypair } from '@atproto/crypto'
import { parseCid } from '@atproto/lex-data'
import { decode as cborDecode } from '@atproto/lex-cbor'
import {
  MemoryBlockstore,
  readCar,
  readCarWithRoot,
  Repo,
  verifyDiff,
  verifyProofs,
  verifyRecords,
  verifyRepo,
} from '@atproto/repo'
import { TestNetwork } from '@atsuite/dev-env'

// ---------------------------------------------------------------- helpers

type User = Awaited<ReturnType<TestNetwork['createUser']>>
/** What we wrote and expect to find: collection/rkey → record CID. */
type Written = Map<string, string>

const now = () => new Date().toISOString()
const key = (collection: string, rkey: string) => `${collection}/${rkey}`
const splitUri = (uri: string) => {
  const [, , , collection, rkey] = uri.split('/')
  return { collection, rkey }
}

/** A valid 1x1 greyscale PNG, built byte by byte. */
const onePixelPng = (): Buffer => {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const out = Buffer.alloc(12 + data.length)
    out.writeUInt32BE(data.length, 0)
    body.copy(out, 4)
    out.writeUInt32BE(crc32(body), 8 + data.length)
    return out
  }
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]) // 1x1, 8-bit greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.from([0, 0x7f]))),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

/** Awaits a rejected XRPC call and checks its HTTP status and lexicon error name. */
const expectXrpcError = async (p: Promise<unknown>, status: number, error?: string | string[]) => {
  const err = await p.then(
    () => {
      throw new Error(`expected the call to fail with ${status} ${String(error)}`)
    },
    (e: unknown) => e as { status?: number; error?: string },
  )
  expect(err.status).toBe(status)
  if (error !== undefined) expect([error].flat()).toContain(err.error)
}

// ---------------------------------------------------------------- network

let net: TestNetwork
let idResolver: IdResolver
let alice: User
let bob: User
let carol: User
const written: Written = new Map()

/** The atproto signing key (did:key) from the DID document our PLC serves. */
const signingKeyOf = async (did: string): Promise<string> => {
  const data = await idResolver.did.resolveAtprotoData(did, true)
  expect(data.did).toBe(did)
  expect(data.pds).toBe(net.pds.ctx.cfg.service.publicUrl)
  return data.signingKey
}

const getRepoCar = async (did: string, since?: string): Promise<Uint8Array> =>
  (await net.agent().com.atproto.sync.getRepo({ did, since })).data

const record = (uri: string, cid: string) => {
  const { collection, rkey } = splitUri(uri)
  written.set(key(collection, rkey), cid)
}

beforeAll(async () => {
  net = await TestNetwork.create()
  idResolver = new IdResolver({ plcUrl: net.plc.url, fetch: globalThis.fetch })
  alice = await net.createUser('alice')
  bob = await net.createUser('bob')
  carol = await net.createUser('carol')

  for (let i = 0; i < 5; i++) {
    const p = await alice.agent.post({ text: `post ${i}`, createdAt: now() })
    record(p.uri, p.cid)
  }
  const bobPost = await bob.agent.post({ text: 'hi from bob', createdAt: now() })
  const like = await alice.agent.like(bobPost.uri, bobPost.cid)
  record(like.uri, like.cid)
  const follow = await alice.agent.follow(bob.did)
  record(follow.uri, follow.cid)
  const batch = await alice.agent.com.atproto.repo.applyWrites({
    repo: alice.did,
    writes: Array.from({ length: 10 }, (_, i) => ({
      $type: 'com.atproto.repo.applyWrites#create' as const,
      collection: 'com.example.item',
      rkey: `item-${String(i).padStart(2, '0')}`,
      value: { i },
    })),
  })
  for (const r of batch.data.results as { uri: string; cid: string }[]) record(r.uri, r.cid)
})

afterAll(async () => {
  await net?.close()
})

// ---------------------------------------------------------------- tests

describe('getRepo', () => {
  test('the whole repo verifies with the DID document key and holds every record we wrote', async () => {
    const car = await getRepoCar(alice.did)
    const { root, blocks } = await readCarWithRoot(car)
    const verified = await verifyRepo(blocks, root, alice.did, await signingKeyOf(alice.did))
    expect(verified.commit.cid.equals(root)).toBe(true)

    const contents = new Map(verified.creates.map((c) => [key(c.collection, c.rkey), c.cid.toString()]))
    for (const [k, cid] of written) expect(contents.get(k)).toBe(cid)
    expect(contents.size).toBe(written.size)

    const head = await net.agent().com.atproto.sync.getLatestCommit({ did: alice.did })
    expect(head.data.cid).toBe(root.toString())
    expect(head.data.rev).toBe(verified.commit.rev)
  })

  test('verification fails with any other key', async () => {
    const { root, blocks } = await readCarWithRoot(await getRepoCar(alice.did))
    const stranger = await Secp256k1Keypair.create()
    await expect(verifyRepo(blocks, root, alice.did, stranger.did())).rejects.toThrow()
    await expect(verifyRepo(blocks, root, bob.did, await signingKeyOf(alice.did))).rejects.toThrow()
  })

  test('since=<rev> returns only the newer blocks, and they apply as a diff', async () => {
    const before = await readCarWithRoot(await getRepoCar(alice.did))
    const rev0 = (await net.agent().com.atproto.sync.getLatestCommit({ did: alice.did })).data.rev
    const late = await alice.agent.com.atproto.repo.createRecord({ repo: alice.did, collection: 'com.example.late', rkey: 'late', record: { late: true } })

    const diffCar = await readCarWithRoot(await getRepoCar(alice.did, rev0))
    const head = (await net.agent().com.atproto.sync.getLatestCommit({ did: alice.did })).data
    expect(diffCar.root.toString()).toBe(head.cid)
    expect(diffCar.blocks.has(parseCid(late.data.cid))).toBe(true)
    expect(diffCar.blocks.size).toBeLessThan(before.blocks.size / 2)
    // nothing that was already in the repo at rev0 comes again
    for (const cid of diffCar.blocks.cids()) expect(before.blocks.has(cid)).toBe(false)

    const prev = await Repo.load(new MemoryBlockstore(before.blocks), before.root)
    const diff = await verifyDiff(prev, diffCar.blocks, diffCar.root, alice.did, await signingKeyOf(alice.did))
    expect(diff.writes.map((w) => ({ action: w.action, collection: w.collection, rkey: w.rkey }))).toEqual([
      { action: 'create', collection: 'com.example.late', rkey: 'late' },
    ])
    record(late.data.uri, late.data.cid)
  })

  test('records with identical content share one block, which stays while any of them does', async () => {
    // identical records have one CID: deleting or changing one of them must not take the block
    // from the others (a commit's "removed" CIDs name it), nor may a commit that both removes
    // and adds it (two records swapping contents) lose it
    const agent = bob.agent
    const same = { $type: 'com.example.twin', text: 'same', n: 1 }
    const put = (rkey: string, value: unknown) =>
      agent.com.atproto.repo.putRecord({ repo: bob.did, collection: 'com.example.twin', rkey, record: value as Record<string, unknown> })
    const a = await put('a', same)
    const b = await put('b', same)
    const c = await put('c', { $type: 'com.example.twin', text: 'other' })
    expect(b.data.cid).toBe(a.data.cid)
    await agent.com.atproto.repo.deleteRecord({ repo: bob.did, collection: 'com.example.twin', rkey: 'a' })
    // b and c swap contents in one commit
    await agent.com.atproto.repo.applyWrites({
      repo: bob.did,
      writes: [
        { $type: 'com.atproto.repo.applyWrites#update', collection: 'com.example.twin', rkey: 'b', value: { $type: 'com.example.twin', text: 'other' } },
        { $type: 'com.atproto.repo.applyWrites#update', collection: 'com.example.twin', rkey: 'c', value: same },
      ],
    })
    const got = await agent.com.atproto.repo.getRecord({ repo: bob.did, collection: 'com.example.twin', rkey: 'c' })
    expect(got.data.cid).toBe(a.data.cid)
    expect(got.data.value).toEqual(same)
    expect((await agent.com.atproto.repo.getRecord({ repo: bob.did, collection: 'com.example.twin', rkey: 'b' })).data.cid).toBe(c.data.cid)
    // the whole repo still verifies: every block it needs is there
    const car = await getRepoCar(bob.did)
    const { root, blocks } = await readCarWithRoot(car)
    const verified = await verifyRepo(blocks, root, bob.did, await signingKeyOf(bob.did))
    const twins = verified.creates.filter((r) => r.collection === 'com.example.twin').map((r) => [r.rkey, r.cid.toString()])
    expect(twins).toEqual([['b', c.data.cid], ['c', a.data.cid]])
  })

  test('blocks of any bytes, over several pages of the export, come back exactly', async () => {
    // the export joins a page of blocks' bytes in SQLite: every byte value (NULs, invalid UTF-8),
    // multibyte text, and more blocks than one page (1,000) must come back as they were written
    const every = Uint8Array.from({ length: 512 }, (_, i) => (i * 7) % 256)
    const wrote = new Map<string, string>()
    for (let start = 0; start < 1200; start += 200) {
      const res = await carol.agent.com.atproto.repo.applyWrites({
        repo: carol.did,
        writes: Array.from({ length: 200 }, (_, j) => {
          const n = start + j
          return {
            $type: 'com.atproto.repo.applyWrites#create' as const,
            collection: 'com.example.bytes',
            rkey: `b${String(n).padStart(5, '0')}`,
            value: { $type: 'com.example.bytes', n, raw: every.slice(n % 256), text: `ünïcødé ✓ \u0000 ${n}` },
          }
        }),
      })
      for (const r of res.data.results as { uri: string; cid: string }[]) wrote.set(splitUri(r.uri).rkey, r.cid)
    }
    const { root, blocks } = await readCarWithRoot(await getRepoCar(carol.did))
    const verified = await verifyRepo(blocks, root, carol.did, await signingKeyOf(carol.did))
    const got = new Map(verified.creates.filter((c) => c.collection === 'com.example.bytes').map((c) => [c.rkey, c]))
    expect(got.size).toBe(1200)
    for (const [rkey, cid] of wrote) {
      const c = got.get(rkey)!
      expect(c.cid.toString()).toBe(cid)
      const n = Number(rkey.slice(1))
      expect(cborDecode(blocks.get(c.cid)!)).toEqual({ $type: 'com.example.bytes', n, raw: every.slice(n % 256), text: `ünïcødé ✓ \u0000 ${n}` })
    }
  })

  test('unknown DID is RepoNotFound', async () => {
    await expectXrpcError(net.agent().com.atproto.sync.getRepo({ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }), 400, 'RepoNotFound')
  })
})

describe('getRecord proofs', () => {
  test('a present record: the proof verifies and carries the record', async () => {
    const signingKey = await signingKeyOf(alice.did)
    const [k, cid] = [...written].find(([k]) => k.startsWith('app.bsky.feed.post/'))!
    const [collection, rkey] = k.split('/')
    const car = (await net.agent().com.atproto.sync.getRecord({ did: alice.did, collection, rkey })).data

    const records = await verifyRecords(car, alice.did, signingKey)
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({ collection, rkey, record: { $type: 'app.bsky.feed.post' } })

    const proofs = await verifyProofs(car, [{ collection, rkey, cid: parseCid(cid) }], alice.did, signingKey)
    expect(proofs.verified).toHaveLength(1)
    expect(proofs.unverified).toHaveLength(0)
    // the same proof does not support a claim that the record is absent
    const absent = await verifyProofs(car, [{ collection, rkey, cid: null }], alice.did, signingKey)
    expect(absent.unverified).toHaveLength(1)
  })

  test('a deleted record: the proof shows its absence', async () => {
    const signingKey = await signingKeyOf(alice.did)
    const collection = 'com.example.item'
    const rkey = 'item-03'
    const oldCid = written.get(key(collection, rkey))!
    await alice.agent.com.atproto.repo.deleteRecord({ repo: alice.did, collection, rkey })
    written.delete(key(collection, rkey))

    const car = (await net.agent().com.atproto.sync.getRecord({ did: alice.did, collection, rkey })).data
    const { root } = await readCarWithRoot(car)
    expect(root.toString()).toBe((await net.agent().com.atproto.sync.getLatestCommit({ did: alice.did })).data.cid)

    const absent = await verifyProofs(car, [{ collection, rkey, cid: null }], alice.did, signingKey)
    expect(absent.verified).toHaveLength(1)
    const stale = await verifyProofs(car, [{ collection, rkey, cid: parseCid(oldCid) }], alice.did, signingKey)
    expect(stale.unverified).toHaveLength(1)
    expect(await verifyRecords(car, alice.did, signingKey)).toEqual([])
  })
})

describe('repo status and listings', () => {
  test('getRepoStatus reports an active repo at the current rev', async () => {
    const head = (await net.agent().com.atproto.sync.getLatestCommit({ did: alice.did })).data
    const status = await net.agent().com.atproto.sync.getRepoStatus({ did: alice.did })
    expect(status.data).toMatchObject({ did: alice.did, active: true, rev: head.rev })
    expect(status.data.status).toBeUndefined()
    await expectXrpcError(net.agent().com.atproto.sync.getRepoStatus({ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' }), 400, 'RepoNotFound')
  })

  test('listRepos lists every account with its head and rev, and pages', async () => {
    const res = await net.agent().com.atproto.sync.listRepos({})
    for (const user of [alice, bob]) {
      const head = (await net.agent().com.atproto.sync.getLatestCommit({ did: user.did })).data
      const entry = res.data.repos.find((r) => r.did === user.did)
      expect(entry).toMatchObject({ did: user.did, head: head.cid, rev: head.rev, active: true })
    }

    const seen: string[] = []
    let cursor: string | undefined
    for (let i = 0; i < 5; i++) {
      const page = await net.agent().com.atproto.sync.listRepos({ limit: 1, cursor })
      seen.push(...page.data.repos.map((r) => r.did))
      cursor = page.data.cursor
      if (!cursor) break
    }
    expect(seen.sort()).toEqual([alice.did, bob.did, carol.did].sort())
  })

  test('getBlocks returns the requested blocks; a missing CID is an error', async () => {
    const head = (await net.agent().com.atproto.sync.getLatestCommit({ did: alice.did })).data
    const recordCid = [...written.values()][0]
    const res = await net.agent().com.atproto.sync.getBlocks({ did: alice.did, cids: [head.cid, recordCid] })
    const { blocks } = await readCar(res.data) // CID-to-content mapping is checked while reading
    expect(blocks.size).toBe(2)
    expect(blocks.has(parseCid(head.cid))).toBe(true)
    expect(blocks.has(parseCid(recordCid))).toBe(true)

    // a well-formed CID this repo has never held
    const missing = 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm'
    await expectXrpcError(
      net.agent().com.atproto.sync.getBlocks({ did: alice.did, cids: [head.cid, missing] }),
      400,
      ['BlockNotFound', 'InvalidRequest'],
    )
  })
})

describe('blobs', () => {
  test('listBlobs lists a blob once a record references it', async () => {
    const png = onePixelPng()
    const up = await bob.agent.uploadBlob(png, { encoding: 'image/png' })
    const cid = up.data.blob.ref.toString()
    await bob.agent.post({
      text: 'with a picture',
      createdAt: now(),
      embed: { $type: 'app.bsky.embed.images', images: [{ image: up.data.blob, alt: 'grey pixel' }] },
    })
    const res = await net.agent().com.atproto.sync.listBlobs({ did: bob.did })
    expect(res.data.cids).toEqual([cid])
    // nobody else's blobs
    expect((await net.agent().com.atproto.sync.listBlobs({ did: alice.did })).data.cids).toEqual([])

    const got = await fetch(`${net.pds.url}/xrpc/com.atproto.sync.getBlob?did=${bob.did}&cid=${cid}`)
    expect(Buffer.from(await got.arrayBuffer()).equals(png)).toBe(true)
  })
})

describe('a create at a key the repo already has', () => {
  test('createRecord and applyWrites are refused; the head stays, and the next commit still verifies', async () => {
    const repo = alice.did
    const before = await net.agent().com.atproto.sync.getLatestCommit({ did: repo })
    const refused = async (p: Promise<unknown>) => {
      const err = (await p.then(
        () => new Error('expected a refusal'),
        (e: unknown) => e,
      )) as { status?: number; error?: string; message?: string }
      expect(err.status).toBe(400)
      expect(err.error).toBe('InvalidRequest')
      expect(err.message).toBe(`Record already exists: at://${repo}/com.example.item/item-05`)
    }
    await refused(alice.agent.com.atproto.repo.createRecord({ repo, collection: 'com.example.item', rkey: 'item-05', record: { i: 'again' } }))
    await refused(
      alice.agent.com.atproto.repo.applyWrites({
        repo,
        writes: [
          { $type: 'com.atproto.repo.applyWrites#create', collection: 'com.example.item', rkey: 'item-new', value: { i: 'new' } },
          { $type: 'com.atproto.repo.applyWrites#create', collection: 'com.example.item', rkey: 'item-05', value: { i: 'again' } },
        ],
      }),
    )
    const after = await net.agent().com.atproto.sync.getLatestCommit({ did: repo })
    expect(after.data).toEqual(before.data)
    // nothing of the refused batch was written, and the record at the key is the one from before
    await expect(alice.agent.com.atproto.repo.getRecord({ repo, collection: 'com.example.item', rkey: 'item-new' })).rejects.toMatchObject({ status: 400 })
    const kept = await alice.agent.com.atproto.repo.getRecord({ repo, collection: 'com.example.item', rkey: 'item-05' })
    expect(kept.data.cid).toBe(written.get(key('com.example.item', 'item-05')))

    // the writer's cached tree was changed by the refused create: the next commit must be built from the stored one
    const next = await alice.agent.com.atproto.repo.createRecord({ repo, collection: 'com.example.item', rkey: 'item-next', record: { i: 'next' } })
    record(next.data.uri, next.data.cid)
    const { root, blocks } = await readCarWithRoot(await getRepoCar(repo))
    const verified = await verifyRepo(blocks, root, repo, await signingKeyOf(repo))
    expect(root.toString()).toBe(next.data.commit!.cid)
    const contents = new Map(verified.creates.map((c) => [key(c.collection, c.rkey), c.cid.toString()]))
    expect(contents).toEqual(written)
  })
})
