import { TestNetwork } from '@atsuite/dev-env'

let net: TestNetwork
beforeAll(async () => {
  net = await TestNetwork.create()
})
afterAll(async () => {
  await net?.close()
})

test('create account, post, read back', async () => {
  const { agent, did } = await net.createUser('alice')
  const res = await agent.post({ text: 'hello world', createdAt: new Date().toISOString() })
  expect(res.uri).toContain(did)
  const got = await agent.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: res.uri.split('/').pop()! })
  expect((got.data.value as { text: string }).text).toBe('hello world')
})
