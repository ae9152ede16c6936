import { decodeFrame } from '@atsuite/common'
import { TestNetwork } from '@atsuite/dev-env'

let net: TestNetwork
beforeAll(async () => {
  net = await TestNetwork.create()
})
afterAll(async () => {
  await net?.close()
})

const xrpc = (method: string, init: RequestInit = {}) => fetch(`${net.pds.url}/xrpc/${method}`, init)

test('admin takedown: sessions and repo reads refused, #account takendown on the firehose; reversal restores', async () => {
  const { agent, did, handle, password } = await net.createUser('victim')
  await agent.post({ text: 'before', createdAt: new Date().toISOString() })
  const admin = { ...net.adminAuthHeaders(), 'content-type': 'application/json' }
  const subject = { $type: 'com.atproto.admin.defs#repoRef', did }

  // only the admin may do it
  const noAuth = await xrpc('com.atproto.admin.updateSubjectStatus', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ subject, takedown: { applied: true } }),
  })
  expect(noAuth.status).toBe(401)

  const seq0 = net.pds.ctx.sequencer.currentSeq
  const down = await xrpc('com.atproto.admin.updateSubjectStatus', {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ subject, takedown: { applied: true, ref: 'case-1' } }),
  })
  expect(down.status).toBe(200)
  const events = net.pds.ctx.sequencer.after(seq0, 10).map((r) => decodeFrame(r.frame))
  expect(events).toEqual([{ op: 1, type: '#account', body: expect.objectContaining({ did, active: false, status: 'takendown' }) }])

  const repo = await xrpc(`com.atproto.sync.getRepo?did=${did}`)
  expect(repo.status).toBe(400)
  expect(((await repo.json()) as { error: string }).error).toBe('RepoTakendown')
  const login = await xrpc('com.atproto.server.createSession', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ identifier: handle, password }),
  })
  expect(login.status).toBe(401)
  expect(((await login.json()) as { error: string }).error).toBe('AccountTakedown')
  await expect(agent.post({ text: 'during', createdAt: new Date().toISOString() })).rejects.toMatchObject({ status: 401 })

  const status = await xrpc(`com.atproto.admin.getSubjectStatus?did=${did}`, { headers: admin })
  expect(await status.json()).toMatchObject({ takedown: { applied: true, ref: 'case-1' } })

  const seq1 = net.pds.ctx.sequencer.currentSeq
  const up = await xrpc('com.atproto.admin.updateSubjectStatus', {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ subject, takedown: { applied: false } }),
  })
  expect(up.status).toBe(200)
  const after = net.pds.ctx.sequencer.after(seq1, 10).map((r) => decodeFrame(r.frame))
  expect(after.map((e) => (e.op === 1 ? e.type : 'error'))).toEqual(['#account', '#sync'])
  expect((await xrpc(`com.atproto.sync.getRepo?did=${did}`)).status).toBe(200)
  await agent.login({ identifier: handle, password })
  await agent.post({ text: 'after', createdAt: new Date().toISOString() })
})

test('admin subject status refuses non-account subjects with a clear error', async () => {
  const res = await xrpc('com.atproto.admin.updateSubjectStatus', {
    method: 'POST',
    headers: { ...net.adminAuthHeaders(), 'content-type': 'application/json' },
    body: JSON.stringify({
      subject: { $type: 'com.atproto.repo.strongRef', uri: 'at://did:plc:abc/app.bsky.feed.post/1', cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' },
      takedown: { applied: true },
    }),
  })
  expect(res.status).toBe(400)
  expect(await res.json()).toMatchObject({ error: 'InvalidRequest' })
})
