/**
 * An account moves between two of our PDSes on one PLC directory, step by
 * step as the account-migration spec describes, through AtpAgent on both
 * hosts: the new host takes the repo, blobs and preferences, the DID
 * document moves, the new host goes live and the old one stops. The relay
 * and the app view follow: followers, posts and likes unchanged, a post made
 * after the move reaches a follower's timeline.
 */
import { AtpAgent } from '@atproto/api'
import { getSigningDidKey } from '@atproto/common-web'
import { MemoryBlockstore, Repo, readCarWithRoot, verifyRepoCar } from '@atproto/repo'
import { parseCid } from '@atproto/lex-data'
import type { PDS } from '@atsuite/pds'
import { TestNetwork, latestMail, type TestUser } from '@atsuite/dev-env'
import { post } from './_util.ts'

let net: TestNetwork
let pds2: PDS
let alice: TestUser
let bob: TestUser
const password = 'alice-new-password'
let newAgent: AtpAgent
let imageCid: string

const counts = async (agent: AtpAgent) => (await agent.com.atproto.server.checkAccountStatus()).data

beforeAll(async () => {
  net = await TestNetwork.create({ appview: true })
  pds2 = await net.addPds()
  alice = await net.createUser('alice')
  bob = await net.createUser('bob')
  const upload = await alice.agent.uploadBlob(Buffer.from('\x89PNG\r\n\x1a\n' + 'x'.repeat(200)), { encoding: 'image/png' })
  imageCid = upload.data.blob.ref.toString()
  await alice.agent.upsertProfile(() => ({ displayName: 'Alice', description: 'moving soon' }))
  for (let i = 0; i < 3; i++) await post(alice.agent, `before the move ${i}`)
  await alice.agent.post({
    text: 'with a picture',
    embed: { $type: 'app.bsky.embed.images', images: [{ image: upload.data.blob, alt: 'a picture' }] },
  })
  await alice.agent.setAdultContentEnabled(true)
  await bob.agent.follow(alice.did)
  await alice.agent.follow(bob.did)
  await net.processAll()
  const first = (await alice.agent.getAuthorFeed({ actor: alice.did })).data.feed
  await bob.agent.like(first[0].post.uri, first[0].post.cid)
  await net.processAll()
})

afterAll(async () => {
  await net?.close()
})

test('the whole flow: old host → new host, every step checked', async () => {
  const old = alice.agent
  newAgent = net.agent(pds2)
  const before = await counts(old)
  const bobViewBefore = (await bob.agent.getProfile({ actor: alice.did })).data

  // 1. the new host's DID, a service token from the old host for createAccount there
  const desc = await newAgent.com.atproto.server.describeServer()
  const serviceAuth = await old.com.atproto.server.getServiceAuth({ aud: desc.data.did, lxm: 'com.atproto.server.createAccount' })

  // without the token, or with one for another method: refused, nothing created
  await expect(
    newAgent.com.atproto.server.createAccount({ did: alice.did, handle: 'alice2.test', email: 'alice@example.com', password }),
  ).rejects.toMatchObject({ status: 401 })
  const wrongLxm = await old.com.atproto.server.getServiceAuth({ aud: desc.data.did, lxm: 'com.atproto.repo.createRecord' })
  await expect(
    newAgent.com.atproto.server.createAccount(
      { did: alice.did, handle: 'alice2.test', email: 'alice@example.com', password },
      { headers: { authorization: `Bearer ${wrongLxm.data.token}` } },
    ),
  ).rejects.toMatchObject({ status: 401 })

  // 2. the account on the new host, deactivated
  await newAgent.com.atproto.server.createAccount(
    { did: alice.did, handle: 'alice2.test', email: 'alice@example.com', password },
    { headers: { authorization: `Bearer ${serviceAuth.data.token}` } },
  )
  await newAgent.login({ identifier: alice.did, password })
  let status = await counts(newAgent)
  expect(status).toMatchObject({ activated: false, validDid: false, indexedRecords: 0 })

  // 3. the repo
  const car = await old.com.atproto.sync.getRepo({ did: alice.did })
  await newAgent.com.atproto.repo.importRepo(car.data, { encoding: 'application/vnd.ipld.car' })
  status = await counts(newAgent)
  expect(status).toMatchObject({
    activated: false,
    validDid: false,
    repoCommit: before.repoCommit,
    repoRev: before.repoRev,
    indexedRecords: before.indexedRecords,
    expectedBlobs: 1,
    importedBlobs: 0,
  })

  // 4. the blobs the records cite
  const missing = await newAgent.com.atproto.repo.listMissingBlobs()
  expect(missing.data.blobs.map((b) => b.cid)).toEqual([imageCid])
  for (const b of missing.data.blobs) {
    const blob = await old.com.atproto.sync.getBlob({ did: alice.did, cid: b.cid })
    await newAgent.com.atproto.repo.uploadBlob(blob.data, { encoding: blob.headers['content-type'] })
  }
  expect((await newAgent.com.atproto.repo.listMissingBlobs()).data.blobs).toEqual([])
  expect(await counts(newAgent)).toMatchObject({ expectedBlobs: 1, importedBlobs: 1 })

  // 5. preferences
  const prefs = await old.app.bsky.actor.getPreferences()
  await newAgent.app.bsky.actor.putPreferences({ preferences: prefs.data.preferences })
  expect((await newAgent.app.bsky.actor.getPreferences()).data.preferences).toEqual(prefs.data.preferences)
  expect((await counts(newAgent)).privateStateValues).toBe(before.privateStateValues)

  // 6. activation before the DID moved: refused, saying why
  await expect(newAgent.com.atproto.server.activateAccount()).rejects.toThrow(/not this server/)

  // 7. the DID document: the new host's credentials, signed by the old host's rotation key
  const creds = await newAgent.com.atproto.identity.getRecommendedDidCredentials()
  expect(creds.data.rotationKeys).toEqual([pds2.ctx.plc.rotationKeyDid])
  await old.com.atproto.identity.requestPlcOperationSignature()
  const mail = await latestMail(net.pds, 'alice@example.com', 'plc_operation')
  expect(mail?.token).toBeTruthy()
  await expect(old.com.atproto.identity.signPlcOperation({ token: 'WRONG-TOKEN', ...creds.data })).rejects.toMatchObject({ status: 400 })
  const signed = await old.com.atproto.identity.signPlcOperation({ token: mail!.token!, ...creds.data })
  // the new host checks what it is asked to submit: an operation keeping the old endpoint is refused
  const stale = await old.com.atproto.identity.requestPlcOperationSignature().then(async () => {
    const m = await latestMail(net.pds, 'alice@example.com', 'plc_operation')
    return old.com.atproto.identity.signPlcOperation({ token: m!.token!, rotationKeys: creds.data.rotationKeys })
  })
  await expect(newAgent.com.atproto.identity.submitPlcOperation({ operation: stale.data.operation })).rejects.toThrow(/endpoint/)
  await newAgent.com.atproto.identity.submitPlcOperation({ operation: signed.data.operation })
  status = await counts(newAgent)
  expect(status.validDid).toBe(true)
  expect((await counts(old)).validDid).toBe(false)

  // 8. live on the new host, gone from the old one
  await newAgent.com.atproto.server.activateAccount()
  await old.com.atproto.server.deactivateAccount({})
  status = await counts(newAgent)
  expect(status).toMatchObject({ activated: true, validDid: true, indexedRecords: before.indexedRecords, expectedBlobs: 1, importedBlobs: 1 })
  // re-signed with the new key: a new head over the same data
  expect(status.repoRev > before.repoRev).toBe(true)
  expect((await counts(old)).activated).toBe(false)

  // the repo verifies against the DID document right away
  const didDoc = await net.pds.ctx.didResolver.resolve(alice.did)
  const key = getSigningDidKey(didDoc as never)!
  const exported = await newAgent.com.atproto.sync.getRepo({ did: alice.did })
  const verified = await verifyRepoCar(exported.data, alice.did, key)
  expect(verified.creates.length).toBe(before.indexedRecords)

  // the old host refuses writes
  await expect(post(old, 'from the old host')).rejects.toMatchObject({ status: 401 })

  // 9. the relay and the app view follow
  await net.processAll()
  const bobView = (await bob.agent.getProfile({ actor: alice.did })).data
  expect(bobView).toMatchObject({
    followersCount: bobViewBefore.followersCount,
    followsCount: bobViewBefore.followsCount,
    postsCount: bobViewBefore.postsCount,
    displayName: 'Alice',
    handle: 'alice2.test',
  })
  expect(bobView.viewer?.following).toBeTruthy()
  const feed = (await bob.agent.getAuthorFeed({ actor: alice.did })).data.feed
  expect(feed.length).toBe(4)
  expect(feed.some((f) => f.post.likeCount === 1)).toBe(true)

  const after = await post(newAgent, 'hello from the new host')
  await net.processAll()
  const timeline = (await bob.agent.getTimeline()).data.feed
  expect(timeline[0].post.uri).toBe(after.uri)
  expect(timeline[0].post.author.handle).toBe('alice2.test')
})

test('importRepo refuses what is not this account’s repo, and leaves the account untouched', async () => {
  const carol = await net.createUser('carol', 'carol-password', pds2)
  await post(carol.agent, 'carol keeps this')
  const before = await counts(carol.agent)
  const bobCar = await bob.agent.com.atproto.sync.getRepo({ did: bob.did })
  const importing = (body: Uint8Array) => carol.agent.com.atproto.repo.importRepo(body, { encoding: 'application/vnd.ipld.car' })
  // another account's repo
  await expect(importing(bobCar.data)).rejects.toThrow(/not for this account/)
  // not a CAR, empty, truncated
  await expect(importing(Buffer.from('this is not a CAR file'))).rejects.toMatchObject({ status: 400 })
  await expect(importing(new Uint8Array(0))).rejects.toMatchObject({ status: 400 })
  const own = await carol.agent.com.atproto.sync.getRepo({ did: carol.did })
  await expect(importing(own.data.subarray(0, own.data.length - 10))).rejects.toThrow(/truncated/)
  expect(await counts(carol.agent)).toEqual(before)
  const recs = await carol.agent.com.atproto.repo.listRecords({ repo: carol.did, collection: 'app.bsky.feed.post' })
  expect(recs.data.records.map((r) => (r.value as { text: string }).text)).toEqual(['carol keeps this'])
})

test('a getRepo?since= diff imported over a full import brings the repo up to date', async () => {
  const frank = await net.createUser('frank')
  const written = []
  for (let i = 0; i < 5; i++) written.push(await post(frank.agent, `frank ${i}`))
  const target = net.agent(pds2)
  const desc = await target.com.atproto.server.describeServer()
  const token = await frank.agent.com.atproto.server.getServiceAuth({ aud: desc.data.did, lxm: 'com.atproto.server.createAccount' })
  await target.com.atproto.server.createAccount(
    { did: frank.did, handle: 'frank2.test', email: 'frank@example.com', password: 'frank-password' },
    { headers: { authorization: `Bearer ${token.data.token}` } },
  )
  await target.login({ identifier: frank.did, password: 'frank-password' })
  const full = await frank.agent.com.atproto.sync.getRepo({ did: frank.did })
  await target.com.atproto.repo.importRepo(full.data, { encoding: 'application/vnd.ipld.car' })
  const since = (await counts(target)).repoRev

  // more happens on the old host: new posts, one deleted
  for (let i = 5; i < 8; i++) written.push(await post(frank.agent, `frank ${i}`))
  await frank.agent.deletePost(written[0].uri)
  const diff = await frank.agent.com.atproto.sync.getRepo({ did: frank.did, since })
  // a diff: the new records' blocks, none of the records that were already there
  const diffBlocks = (await readCarWithRoot(diff.data)).blocks
  expect(written.slice(5).map((w) => diffBlocks.has(parseCid(w.cid)))).toEqual([true, true, true])
  expect(written.slice(1, 5).map((w) => diffBlocks.has(parseCid(w.cid)))).toEqual([false, false, false, false])
  await target.com.atproto.repo.importRepo(diff.data, { encoding: 'application/vnd.ipld.car' })

  const old = await counts(frank.agent)
  // the blocks the old head reaches: its commit, every MST node and every record
  const exported = await readCarWithRoot((await frank.agent.com.atproto.sync.getRepo({ did: frank.did })).data)
  const tree = await Repo.load(new MemoryBlockstore(exported.blocks), exported.root)
  const reachable = 1 + (await tree.data.allCids()).size()
  // the old host keeps no more than that either (a delete that drops the tree's top layers once left
  // the dropped nodes behind: see common/mst.ts remove)
  expect(old.repoBlocks).toBe(reachable)
  // the same commit and records, and exactly the blocks it reaches: nothing left behind, nothing missing
  expect(await counts(target)).toMatchObject({
    repoCommit: old.repoCommit,
    repoRev: old.repoRev,
    indexedRecords: 7,
    repoBlocks: reachable,
  })
  // (a deactivated repo is not served to readers: compare the stored record index directly)
  const stored = (pds: PDS) =>
    pds.ctx.actorStore.read(frank.did, (db) => db.listRecords('app.bsky.feed.post', 100, undefined, false).map((r) => `${r.uri} ${r.cid}`))
  expect(stored(pds2)).toEqual(stored(net.pds))
})
