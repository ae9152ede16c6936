/**
 * The PDS driven end to end by `@atproto/api`'s AtpAgent, the way a Bluesky
 * client drives it: logins, the app.bsky record types, blobs, swaps, batch
 * writes, paging, preferences and record validation.
 */
import { crc32, deflateSync } from 'node:zlib'
import { BlobRef } from '@atproto/api'
import { TestNetwork } from '@atsuite/dev-env'

// ---------------------------------------------------------------- helpers

type User = Awaited<ReturnType<TestNetwork['createUser']>>

const now = () => new Date().toISOString()

const rkeyOf = (uri: string): string => uri.split('/').pop()!

const pngChunk = (type: string, data: Buffer): Buffer => {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([len, body, crc])
}

/** A valid 1x1 RGBA PNG, built byte by byte (signature, IHDR, IDAT, IEND). */
const onePixelPng = (): Buffer => {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(1, 0) // width
  ihdr.writeUInt32BE(1, 4) // height
  ihdr[8] = 8 // bit depth
  ihdr[9] = 6 // colour type RGBA
  // compression, filter, interlace: 0
  const scanline = Buffer.from([0, 0xff, 0x80, 0x00, 0xff]) // filter byte + one pixel
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(scanline)),
    pngChunk('IEND', Buffer.alloc(0)),
  ])
}

/** Awaits a rejected XRPC call and checks its HTTP status and lexicon error name. */
const expectXrpcError = async (p: Promise<unknown>, status: number, error?: string | string[]) => {
  const err = await p.then(
    () => {
      throw new Error(`expected the call to fail with ${status} ${String(error)}`)
    },
    (e: unknown) => e as { status?: number; error?: string; message?: string },
  )
  expect(err.status).toBe(status)
  if (error !== undefined) expect([error].flat()).toContain(err.error)
  return err
}

/** `$link` of a blob ref, whether the client hands back a BlobRef or its JSON form. */
const blobCidOf = (blob: unknown): string => {
  if (blob instanceof BlobRef) return blob.ref.toString()
  const b = blob as { ref?: { $link?: string; toString(): string } }
  return b.ref?.$link ?? String(b.ref)
}

// ---------------------------------------------------------------- network

let net: TestNetwork
let alice: User
let bob: User

beforeAll(async () => {
  net = await TestNetwork.create()
  alice = await net.createUser('alice')
  bob = await net.createUser('bob')
})

afterAll(async () => {
  await net?.close()
})

// ---------------------------------------------------------------- tests

describe('login', () => {
  test.each([
    ['handle', () => alice.handle],
    ['email', () => 'alice@example.com'],
    ['DID', () => alice.did],
  ])('createSession by %s', async (_kind, identifier) => {
    const agent = net.agent()
    await agent.login({ identifier: identifier(), password: alice.password })
    expect(agent.session?.did).toBe(alice.did)
    expect(agent.session?.handle).toBe(alice.handle)
    const me = await agent.com.atproto.server.getSession()
    expect(me.data.did).toBe(alice.did)
    expect(me.data.email).toBe('alice@example.com')
  })

  test('wrong password is refused', async () => {
    await expectXrpcError(net.agent().login({ identifier: alice.handle, password: 'not-the-password' }), 401, 'AuthenticationRequired')
  })
})

describe('social records', () => {
  test('post, reply with root/parent refs, like, repost, follow', async () => {
    const root = await alice.agent.post({ text: 'root post', createdAt: now() })
    const reply1 = await bob.agent.post({
      text: 'first reply',
      createdAt: now(),
      reply: { root: { uri: root.uri, cid: root.cid }, parent: { uri: root.uri, cid: root.cid } },
    })
    const reply2 = await alice.agent.post({
      text: 'reply to the reply',
      createdAt: now(),
      reply: { root: { uri: root.uri, cid: root.cid }, parent: { uri: reply1.uri, cid: reply1.cid } },
    })

    const got = await net.agent().com.atproto.repo.getRecord({
      repo: alice.did,
      collection: 'app.bsky.feed.post',
      rkey: rkeyOf(reply2.uri),
    })
    expect(got.data.cid).toBe(reply2.cid)
    const value = got.data.value as { text: string; reply: { root: { uri: string; cid: string }; parent: { uri: string; cid: string } } }
    expect(value.text).toBe('reply to the reply')
    expect(value.reply.root).toEqual({ uri: root.uri, cid: root.cid })
    expect(value.reply.parent).toEqual({ uri: reply1.uri, cid: reply1.cid })

    const like = await bob.agent.like(root.uri, root.cid)
    const repost = await bob.agent.repost(root.uri, root.cid)
    const follow = await bob.agent.follow(alice.did)
    expect(like.uri).toMatch(new RegExp(`^at://${bob.did}/app.bsky.feed.like/`))
    expect(repost.uri).toMatch(new RegExp(`^at://${bob.did}/app.bsky.feed.repost/`))
    expect(follow.uri).toMatch(new RegExp(`^at://${bob.did}/app.bsky.graph.follow/`))

    const read = async (uri: string, collection: string) =>
      (await net.agent().com.atproto.repo.getRecord({ repo: bob.did, collection, rkey: rkeyOf(uri) })).data.value as {
        subject: unknown
      }
    expect((await read(like.uri, 'app.bsky.feed.like')).subject).toEqual({ uri: root.uri, cid: root.cid })
    expect((await read(repost.uri, 'app.bsky.feed.repost')).subject).toEqual({ uri: root.uri, cid: root.cid })
    expect((await read(follow.uri, 'app.bsky.graph.follow')).subject).toBe(alice.did)
  })

  test('image upload, post with images embed, getBlob serves the bytes safely', async () => {
    const png = onePixelPng()
    const up = await alice.agent.uploadBlob(png, { encoding: 'image/png' })
    const blob = up.data.blob
    expect(blob.mimeType).toBe('image/png')
    expect(blob.size).toBe(png.length)
    const blobCid = blobCidOf(blob)
    expect(blobCid).toMatch(/^bafkrei/) // raw codec, sha-256

    const post = await alice.agent.post({
      text: 'a very small picture',
      createdAt: now(),
      embed: { $type: 'app.bsky.embed.images', images: [{ image: blob, alt: 'one pixel', aspectRatio: { width: 1, height: 1 } }] },
    })
    const got = await net.agent().com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey: rkeyOf(post.uri) })
    const embed = (got.data.value as { embed: { $type: string; images: { image: unknown; alt: string }[] } }).embed
    expect(embed.$type).toBe('app.bsky.embed.images')
    expect(embed.images[0].alt).toBe('one pixel')
    expect(blobCidOf(embed.images[0].image)).toBe(blobCid)

    const res = await fetch(`${net.pds.url}/xrpc/com.atproto.sync.getBlob?did=${alice.did}&cid=${blobCid}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^image\/png/)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/)
    expect(Buffer.from(await res.arrayBuffer()).equals(png)).toBe(true)
  })

  test('upsertProfile creates then updates app.bsky.actor.profile/self', async () => {
    await alice.agent.upsertProfile(() => ({ displayName: 'Alice', description: 'first' }))
    await alice.agent.upsertProfile((existing) => ({ ...existing, description: `${existing?.description} then second` }))
    const got = await net.agent().com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.actor.profile', rkey: 'self' })
    expect(got.data.value).toMatchObject({ $type: 'app.bsky.actor.profile', displayName: 'Alice', description: 'first then second' })
  })

  test('deletePost: the record is gone', async () => {
    const post = await alice.agent.post({ text: 'short-lived', createdAt: now() })
    await alice.agent.deletePost(post.uri)
    await expectXrpcError(
      net.agent().com.atproto.repo.getRecord({ repo: alice.did, collection: 'app.bsky.feed.post', rkey: rkeyOf(post.uri) }),
      400,
      'RecordNotFound',
    )
  })
})

describe('swaps and batch writes', () => {
  const COLL = 'com.example.note'

  test('putRecord with a stale swapRecord is InvalidSwap', async () => {
    const repo = alice.did
    const v1 = await alice.agent.com.atproto.repo.putRecord({ repo, collection: COLL, rkey: 'swap', record: { n: 1 } })
    const v2 = await alice.agent.com.atproto.repo.putRecord({ repo, collection: COLL, rkey: 'swap', record: { n: 2 }, swapRecord: v1.data.cid })
    expect(v2.data.cid).not.toBe(v1.data.cid)
    await expectXrpcError(
      alice.agent.com.atproto.repo.putRecord({ repo, collection: COLL, rkey: 'swap', record: { n: 3 }, swapRecord: v1.data.cid }),
      400,
      'InvalidSwap',
    )
    const got = await alice.agent.com.atproto.repo.getRecord({ repo, collection: COLL, rkey: 'swap' })
    expect(got.data.value).toMatchObject({ n: 2 })
  })

  test('createRecord with a swapCommit that is not the head is InvalidSwap', async () => {
    const repo = alice.did
    const first = await alice.agent.com.atproto.repo.createRecord({ repo, collection: COLL, record: { n: 'a' } })
    const stale = first.data.commit!.cid
    await alice.agent.com.atproto.repo.createRecord({ repo, collection: COLL, record: { n: 'b' } })
    await expectXrpcError(
      alice.agent.com.atproto.repo.createRecord({ repo, collection: COLL, record: { n: 'c' }, swapCommit: stale }),
      400,
      'InvalidSwap',
    )
    // the right head is accepted
    const head = await net.agent().com.atproto.sync.getLatestCommit({ did: repo })
    const ok = await alice.agent.com.atproto.repo.createRecord({ repo, collection: COLL, record: { n: 'd' }, swapCommit: head.data.cid })
    expect(ok.data.commit?.cid).not.toBe(head.data.cid)
  })

  test('applyWrites: create + update + delete in one commit, typed results', async () => {
    const repo = alice.did
    await alice.agent.com.atproto.repo.putRecord({ repo, collection: COLL, rkey: 'to-update', record: { v: 'old' } })
    await alice.agent.com.atproto.repo.putRecord({ repo, collection: COLL, rkey: 'to-delete', record: { v: 'bye' } })
    const res = await alice.agent.com.atproto.repo.applyWrites({
      repo,
      writes: [
        { $type: 'com.atproto.repo.applyWrites#create', collection: COLL, rkey: 'created', value: { v: 'new' } },
        { $type: 'com.atproto.repo.applyWrites#update', collection: COLL, rkey: 'to-update', value: { v: 'updated' } },
        { $type: 'com.atproto.repo.applyWrites#delete', collection: COLL, rkey: 'to-delete' },
      ],
    })
    const results = res.data.results ?? []
    expect(results.map((r) => r.$type)).toEqual([
      'com.atproto.repo.applyWrites#createResult',
      'com.atproto.repo.applyWrites#updateResult',
      'com.atproto.repo.applyWrites#deleteResult',
    ])
    const created = results[0] as { uri: string; cid: string }
    expect(created.uri).toBe(`at://${repo}/${COLL}/created`)
    expect(res.data.commit?.cid).toBeTruthy()

    const get = (rkey: string) => alice.agent.com.atproto.repo.getRecord({ repo, collection: COLL, rkey })
    expect((await get('created')).data).toMatchObject({ cid: created.cid, value: { v: 'new' } })
    expect((await get('to-update')).data.value).toMatchObject({ v: 'updated' })
    await expectXrpcError(get('to-delete'), 400, 'RecordNotFound')
  })
})

describe('listRecords paging', () => {
  const COLL = 'com.example.page'
  let rkeys: string[] // ascending

  beforeAll(async () => {
    const writes = Array.from({ length: 25 }, (_, i) => ({
      $type: 'com.atproto.repo.applyWrites#create' as const,
      collection: COLL,
      value: { i },
    }))
    const res = await bob.agent.com.atproto.repo.applyWrites({ repo: bob.did, writes })
    rkeys = (res.data.results as { uri: string }[]).map((r) => rkeyOf(r.uri)).sort()
    expect(new Set(rkeys).size).toBe(25)
  })

  const pageAll = async (reverse: boolean) => {
    const seen: string[] = []
    const sizes: number[] = []
    let cursor: string | undefined
    for (let i = 0; i < 10; i++) {
      const res = await net.agent().com.atproto.repo.listRecords({ repo: bob.did, collection: COLL, limit: 10, cursor, reverse })
      sizes.push(res.data.records.length)
      seen.push(...res.data.records.map((r) => rkeyOf(r.uri)))
      cursor = res.data.cursor
      if (!cursor) break
    }
    return { seen, sizes }
  }

  test('default order is newest first; pages have no gaps or duplicates; no cursor at the end', async () => {
    const { seen, sizes } = await pageAll(false)
    expect(sizes).toEqual([10, 10, 5])
    expect(seen).toEqual([...rkeys].reverse())
  })

  test('reverse=true pages oldest first', async () => {
    const { seen, sizes } = await pageAll(true)
    expect(sizes).toEqual([10, 10, 5])
    expect(seen).toEqual(rkeys)
  })
})

describe('preferences', () => {
  test('put then get round-trips app.bsky preferences', async () => {
    const preferences = [
      { $type: 'app.bsky.actor.defs#adultContentPref', enabled: false },
      { $type: 'app.bsky.actor.defs#contentLabelPref', label: 'nsfw', visibility: 'hide' },
      {
        $type: 'app.bsky.actor.defs#savedFeedsPrefV2',
        items: [{ id: '3kabc', type: 'timeline', value: 'following', pinned: true }],
      },
    ]
    await bob.agent.app.bsky.actor.putPreferences({ preferences })
    const got = await bob.agent.app.bsky.actor.getPreferences()
    expect(got.data.preferences).toEqual(preferences)

    // a second put replaces, it does not append
    await bob.agent.app.bsky.actor.putPreferences({ preferences: [preferences[0]] })
    expect((await bob.agent.app.bsky.actor.getPreferences()).data.preferences).toEqual([preferences[0]])
  })

  test('a preference outside app.bsky is refused and nothing changes', async () => {
    const before = (await bob.agent.app.bsky.actor.getPreferences()).data.preferences
    const foreign: { $type: string } = { $type: 'com.example.pref', x: 1 } as { $type: string }
    await expectXrpcError(
      bob.agent.app.bsky.actor.putPreferences({
        preferences: [{ $type: 'app.bsky.actor.defs#adultContentPref', enabled: true }, foreign],
      }),
      400,
      'InvalidRequest',
    )
    expect((await bob.agent.app.bsky.actor.getPreferences()).data.preferences).toEqual(before)
  })

  test('preferences are per account and need auth', async () => {
    expect((await alice.agent.app.bsky.actor.getPreferences()).data.preferences).toEqual([])
    await expectXrpcError(net.agent().app.bsky.actor.getPreferences(), 401)
  })
})

describe('record validation', () => {
  const repo = () => alice.did

  test('validate:false stores an unknown-collection record without a validationStatus', async () => {
    const res = await alice.agent.com.atproto.repo.createRecord({
      repo: repo(),
      collection: 'com.example.unvalidated',
      record: { anything: ['goes', 1] },
      validate: false,
    })
    expect(res.data.validationStatus).toBeUndefined()
    const got = await alice.agent.com.atproto.repo.getRecord({ repo: repo(), collection: 'com.example.unvalidated', rkey: rkeyOf(res.data.uri) })
    expect(got.data.value).toMatchObject({ anything: ['goes', 1] })
  })

  test('validate unset: unknown collection → "unknown", known collection → "valid"', async () => {
    const unknown = await alice.agent.com.atproto.repo.createRecord({ repo: repo(), collection: 'com.example.unset', record: { a: 1 } })
    expect(unknown.data.validationStatus).toBe('unknown')
    const known = await alice.agent.com.atproto.repo.createRecord({
      repo: repo(),
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'validated', createdAt: now() },
    })
    expect(known.data.validationStatus).toBe('valid')
  })

  test('validate:true on a collection without a lexicon is refused', async () => {
    await expectXrpcError(
      alice.agent.com.atproto.repo.createRecord({ repo: repo(), collection: 'com.example.strict', record: { a: 1 }, validate: true }),
      400,
    )
    const list = await net.agent().com.atproto.repo.listRecords({ repo: repo(), collection: 'com.example.strict' })
    expect(list.data.records).toEqual([])
  })

  test('an invalid app.bsky.feed.post is refused with 400', async () => {
    await expectXrpcError(
      alice.agent.com.atproto.repo.createRecord({
        repo: repo(),
        collection: 'app.bsky.feed.post',
        record: { $type: 'app.bsky.feed.post', text: 42, createdAt: now() },
      }),
      400,
      ['InvalidRecord', 'InvalidRequest'],
    )
  })
})
