/**
 * Images in views resolve to URLs the app view serves itself: fetched from
 * the owning PDS's getBlob, checked against their CID, cached on disk, with
 * the blob's content type and immutable cache headers; a hidden account's
 * images are gone.
 */
import path from 'node:path'
import { AppView } from '@atsuite/appview'
import { TestNetwork, freePort, testAppViewConfig, waitUntil, type TestUser } from '@atsuite/dev-env'
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

test('an app view serving unvalidated answers (as in production: JSON written in one pass) answers the same bytes', async () => {
  const quoted = await alice.agent.post({ text: 'quote me' })
  const quoting = await alice.agent.post({ text: 'quoting', embed: { $type: 'app.bsky.embed.record', record: { uri: quoted.uri, cid: quoted.cid } } })
  const head = await net.processAll()
  const cfg = testAppViewConfig(net.plc.url, net.relay.url.replace(/^http/, 'ws'), path.join(net.dir, 'appview-plain'), await freePort(), { APPVIEW_STREAM_START: 'oldest' })
  const plain = await AppView.create(cfg, { validateResponses: false })
  await plain.start()
  try {
    await waitUntil(() => plain.ctx.indexer.status.cursor >= head && plain.ctx.indexer.status.idle, {
      timeoutMs: 20_000,
      wakeOn: [(fn) => (plain.ctx.indexer.on('progress', fn), () => void plain.ctx.indexer.off('progress', fn))],
      pollMs: 50,
      describe: () => `second app view at ${plain.ctx.indexer.status.cursor}, head ${head}`,
    })
    // each app view's own URL in image links, and when it indexed things (indexedAt, an account's createdAt as
    // first seen), are the only differences allowed
    const normal = (text: string, base: string) => JSON.parse(text.replaceAll(base, 'APPVIEW').replace(/"(indexedAt|createdAt)":"[^"]*"/g, '"$1":"-"'))
    for (const [nsid, qs] of [
      ['app.bsky.feed.getAuthorFeed', `actor=${alice.did}`],
      ['app.bsky.feed.getPosts', `uris=${encodeURIComponent(quoting.uri)}&uris=${encodeURIComponent(quoted.uri)}`],
      ['app.bsky.actor.getProfile', `actor=${alice.did}`],
    ]) {
      const [a, b] = await Promise.all([fetch(`${net.appview.url}/xrpc/${nsid}?${qs}`), fetch(`${plain.url}/xrpc/${nsid}?${qs}`)])
      expect([a.status, b.status]).toEqual([200, 200])
      expect(b.headers.get('content-type')).toMatch(/^application\/json/)
      expect(normal(await b.text(), plain.url)).toEqual(normal(await a.text(), net.appview.url))
    }
  } finally {
    await plain.destroy()
  }
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
