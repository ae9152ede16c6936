import fs from 'node:fs'
import path from 'node:path'
import { TestNetwork } from '@atsuite/dev-env'

// A 1x1 PNG, sniffed as image/png whatever Content-Type the client claims.
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
    '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082',
  'hex',
)

let net: TestNetwork
beforeAll(async () => {
  net = await TestNetwork.create({ env: { PDS_BLOB_TEMP_GRACE_MS: '60000' } })
})
afterAll(async () => {
  await net?.close()
})

const imagePost = (blob: unknown) => ({
  $type: 'app.bsky.feed.post',
  text: 'pic',
  createdAt: new Date().toISOString(),
  embed: { $type: 'app.bsky.embed.images', images: [{ image: blob, alt: '' }] },
})

test('mime type is sniffed from content, not taken from the header', async () => {
  const { agent } = await net.createUser('blobsniff')
  const up = await agent.uploadBlob(PNG, { encoding: 'text/plain' })
  expect(up.data.blob.mimeType).toBe('image/png')
  const text = await agent.uploadBlob(Buffer.from('just words'), { encoding: 'text/plain' })
  expect(text.data.blob.mimeType).toBe('text/plain')
})

test("a blob that breaks its lexicon field's accept / maxSize is refused, nothing is committed", async () => {
  const { agent, did } = await net.createUser('blobrules')
  const head = (await agent.com.atproto.sync.getLatestCommit({ did })).data.cid
  const text = await agent.uploadBlob(Buffer.from('not an image'), { encoding: 'text/plain' })
  await expect(
    agent.com.atproto.repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record: imagePost(text.data.blob) }),
  ).rejects.toMatchObject({ status: 400, error: 'InvalidMimeType' })

  // app.bsky.actor.profile avatar: maxSize 1,000,000
  const huge = Buffer.concat([PNG, Buffer.alloc(1_000_001)])
  const big = await agent.uploadBlob(huge, { encoding: 'image/png' })
  await expect(
    agent.com.atproto.repo.putRecord({
      repo: did,
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
      record: { $type: 'app.bsky.actor.profile', avatar: big.data.blob },
    }),
  ).rejects.toMatchObject({ status: 400, error: 'BlobTooLarge' })
  expect((await agent.com.atproto.sync.getLatestCommit({ did })).data.cid).toBe(head)

  const png = await agent.uploadBlob(PNG, { encoding: 'image/png' })
  const ok = await agent.com.atproto.repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record: imagePost(png.data.blob) })
  expect(ok.data.validationStatus).toBe('valid')
})

test('a blob referenced nowhere is garbage-collected after the grace period; a referenced one stays', async () => {
  const { agent, did } = await net.createUser('blobgc')
  const keep = await agent.uploadBlob(PNG, { encoding: 'image/png' })
  await agent.com.atproto.repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record: imagePost(keep.data.blob) })
  const orphan = await agent.uploadBlob(Buffer.from('orphan bytes'), { encoding: 'text/plain' })
  const tmpDir = path.join(net.pds.ctx.cfg.blobstoreLocation, 'tmp', encodeURIComponent(did))
  expect(fs.readdirSync(tmpDir)).toHaveLength(1)

  // within the grace period nothing goes
  expect(await net.pds.ctx.blobs.collectGarbage(Date.now())).toBe(0)
  // past it, unreferenced uploads go (rows and files; other tests' leftovers too), referenced ones stay
  expect(await net.pds.ctx.blobs.collectGarbage(Date.now() + 120_000)).toBeGreaterThanOrEqual(1)
  expect(fs.readdirSync(tmpDir)).toHaveLength(0)
  expect(net.pds.ctx.actorStore.read(did, (db) => db.getBlob(orphan.data.blob.ref.toString()))).toBeUndefined()
  const got = await fetch(`${net.pds.url}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${keep.data.blob.ref.toString()}`)
  expect(got.status).toBe(200)
  expect(Buffer.from(await got.arrayBuffer()).equals(PNG)).toBe(true)
})

test('deleting the last record that references a blob deletes the blob', async () => {
  const { agent, did } = await net.createUser('blobdel')
  const png = await agent.uploadBlob(PNG, { encoding: 'image/png' })
  const rec = await agent.com.atproto.repo.createRecord({ repo: did, collection: 'app.bsky.feed.post', record: imagePost(png.data.blob) })
  const cid = png.data.blob.ref.toString()
  expect((await fetch(`${net.pds.url}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${cid}`)).status).toBe(200)
  await agent.com.atproto.repo.deleteRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: rec.data.uri.split('/').pop()! })
  const gone = await fetch(`${net.pds.url}/xrpc/com.atproto.sync.getBlob?did=${did}&cid=${cid}`)
  expect(gone.status).toBe(400)
  expect(((await gone.json()) as { error: string }).error).toBe('BlobNotFound')
})
