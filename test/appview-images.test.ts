/**
 * Images in views resolve to URLs the app view serves itself: fetched from
 * the owning PDS's getBlob, checked against their CID, cached on disk, with
 * the blob's content type and immutable cache headers; a hidden account's
 * images are gone.
 */
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { appviewGet } from './_appview.ts'
import { PNG } from './_util.ts'

let net: TestNetwork
let alice: TestUser


beforeAll(async () => {
  net = await TestNetwork.create({ appview: true })
  alice = await net.createUser('alice')
})

afterAll(async () => {
  await net?.close()
})

test('post images and avatars are served by the app view with the right type and cache headers', async () => {
  const blob = await alice.agent.uploadBlob(PNG, { encoding: 'image/png' })
  await alice.agent.upsertProfile(() => ({ displayName: 'Alice', avatar: blob.data.blob }))
  const post = await alice.agent.post({
    text: 'a picture',
    embed: { $type: 'app.bsky.embed.images', images: [{ image: blob.data.blob, alt: 'one pixel', aspectRatio: { width: 1, height: 1 } }] },
  })
  await net.processAll()

  const res = await appviewGet(net, null, 'app.bsky.feed.getPosts', { uris: [post.uri] })
  const embed = res.body.posts[0].embed
  expect(embed.$type).toBe('app.bsky.embed.images#view')
  expect(embed.images[0]).toMatchObject({ alt: 'one pixel', aspectRatio: { width: 1, height: 1 } })
  const cid = blob.data.blob.ref.toString()
  for (const url of [embed.images[0].thumb, embed.images[0].fullsize]) {
    expect(url).toContain(`${net.appview.url}/img/`)
    expect(url).toContain(cid)
    const img = await fetch(url)
    expect(img.status).toBe(200)
    expect(img.headers.get('content-type')).toBe('image/png')
    expect(img.headers.get('cache-control')).toContain('immutable')
    expect(Buffer.from(await img.arrayBuffer()).equals(PNG)).toBe(true)
  }
  // a second fetch is served from the cache: same bytes, etag revalidation gives 304
  const again = await fetch(embed.images[0].thumb, { headers: { 'if-none-match': `"${cid}"` } })
  expect(again.status).toBe(304)

  const profile = await appviewGet(net, null, 'app.bsky.actor.getProfile', { actor: alice.did })
  expect(profile.body.avatar).toContain(cid)
  expect((await fetch(profile.body.avatar)).status).toBe(200)
})

test('bad image paths are 400s, unknown blobs 404, and a taken-down account has no images', async () => {
  expect((await fetch(`${net.appview.url}/img/feed_thumbnail/plain/not-a-did/bafy@jpeg`)).status).toBe(400)
  expect((await fetch(`${net.appview.url}/img/huge/plain/${alice.did}/bafy@jpeg`)).status).toBe(400)
  const unknown = await fetch(`${net.appview.url}/img/avatar/plain/${alice.did}/bafkreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm@jpeg`)
  expect(unknown.status).toBe(404)

  const blob = await alice.agent.uploadBlob(Buffer.concat([PNG, Buffer.from([0])]), { encoding: 'image/png' })
  const post = await alice.agent.post({ text: 'another', embed: { $type: 'app.bsky.embed.images', images: [{ image: blob.data.blob, alt: '' }] } })
  await net.processAll()
  const url = (await appviewGet(net, null, 'app.bsky.feed.getPosts', { uris: [post.uri] })).body.posts[0].embed.images[0].thumb
  await net.agent().com.atproto.admin.updateSubjectStatus(
    { subject: { $type: 'com.atproto.admin.defs#repoRef', did: alice.did }, takedown: { applied: true, ref: 'TD' } },
    { headers: net.adminAuthHeaders(), encoding: 'application/json' },
  )
  await net.processAll()
  expect((await fetch(url)).status).toBe(404)
})
