/**
 * getTimeline's two plans (per followee, network-wide for heavy followers)
 * give the same items in the same order, and paging with small limits
 * yields every item exactly once, newest first, under concurrent writes.
 */
import { TestNetwork, type TestUser } from '@atsuite/dev-env'
import { appviewGet } from './_appview.ts'

let net: TestNetwork
let viewer: TestUser
let others: TestUser[]

beforeAll(async () => {
  // a threshold of 2 follows: the viewer below follows 3, so the network-wide plan is used
  net = await TestNetwork.create({ appview: { env: { APPVIEW_TIMELINE_HEAVY_FOLLOWS: '2' } } })
  viewer = await net.createUser('viewer')
  others = [await net.createUser('ann'), await net.createUser('ben'), await net.createUser('cat'), await net.createUser('dan')]
})

afterAll(async () => {
  await net?.close()
})

type Page = { feed: { post: { uri: string }; reason?: { uri?: string } }[]; cursor?: string }

const pageThrough = async (limit: number): Promise<string[]> => {
  const seen: string[] = []
  let cursor: string | undefined
  for (let i = 0; i < 100; i++) {
    const res = await appviewGet(net, viewer, 'app.bsky.feed.getTimeline', { limit, ...(cursor ? { cursor } : {}) })
    expect(res.status).toBe(200)
    const page = res.body as Page
    seen.push(...page.feed.map((f) => f.reason?.uri ?? f.post.uri))
    if (!page.cursor) break
    cursor = page.cursor
  }
  return seen
}

test('both plans agree and paging yields every item once, newest first', async () => {
  const [ann, ben, cat, dan] = others as [TestUser, TestUser, TestUser, TestUser]
  for (const u of [ann, ben, cat]) await viewer.agent.follow(u.did)
  const expected: string[] = []
  for (let i = 0; i < 8; i++) {
    for (const u of [ann, ben, cat, dan, viewer]) {
      const p = await u.agent.post({ text: `${u.handle} ${i}` })
      if (u !== dan) expected.push(p.uri)
    }
  }
  const first = await ann.agent.post({ text: 'reposted' })
  expected.push(first.uri)
  const repost = await ben.agent.repost(first.uri, first.cid)
  expected.push(repost.uri)
  await net.processAll()

  const heavy = await pageThrough(7)
  expect(new Set(heavy).size).toBe(heavy.length)
  expect([...heavy].sort()).toEqual([...expected].sort())

  // the same viewer with the per-followee plan: a second app view setting would be heavier; flip the knob
  net.appview.ctx.cfg.timelineHeavyFollows = 1000
  const light = await pageThrough(7)
  expect(light).toEqual(heavy)

  // writes while paging do not shift what the next page returns
  const half = await appviewGet(net, viewer, 'app.bsky.feed.getTimeline', { limit: 10 })
  await ann.agent.post({ text: 'newer than the first page' })
  await net.processAll()
  const rest = await appviewGet(net, viewer, 'app.bsky.feed.getTimeline', { limit: 10, cursor: half.body.cursor })
  const allAfter = light.slice(10, 20)
  expect((rest.body as Page).feed.map((f) => f.reason?.uri ?? f.post.uri)).toEqual(allAfter)
})
