import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { decodeFrame } from '@atsuite/common'
import { PlcServer } from '@atsuite/plc'
import { startTestPds, testSecrets } from '@atsuite/dev-env'
import { AtpAgent } from '@atproto/api'

// The window between a commit's transaction and its firehose event cannot be
// one SQLite transaction (different files). This test recreates the state a
// crash in that window leaves — the store's head newer than the head recorded
// with the last announced event, no clean-shutdown marker — and checks that
// the restarted PDS announces the head with #sync.
test('after an unclean shutdown, commits left unannounced are announced with #sync', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pds-recovery-'))
  const plc = await PlcServer.create({ port: 0, host: '127.0.0.1', dbLocation: path.join(dir, 'plc.sqlite') })
  await plc.start()
  const secrets = testSecrets()
  const dataDir = path.join(dir, 'pds')
  let pds = await startTestPds(plc.url, dataDir, {}, secrets)
  const port = String(pds.port)
  try {
    const agent = new AtpAgent({ service: pds.url })
    await agent.createAccount({ handle: 'recover.test', email: 'r@example.com', password: 'password-123' })
    const did = agent.session!.did
    await agent.post({ text: 'first', createdAt: new Date().toISOString() })
    const announcedRev = (await agent.com.atproto.sync.getLatestCommit({ did })).data.rev
    await agent.post({ text: 'second', createdAt: new Date().toISOString() })
    const head = (await agent.com.atproto.sync.getLatestCommit({ did })).data

    // the state a crash between commit and event leaves behind
    pds.ctx.accountDb.sqlite.prepare('UPDATE repo_root SET rev = ? WHERE did = ?').run(announcedRev, did)
    await pds.destroy()
    fs.rmSync(path.join(dataDir, 'clean-shutdown'))

    pds = await startTestPds(plc.url, dataDir, { PDS_PORT: port }, secrets)
    const seqBefore = pds.ctx.sequencer.currentSeq
    const last = pds.ctx.sequencer.after(seqBefore - 1, 10)
    expect(last).toHaveLength(1)
    const frame = decodeFrame(last[0].frame)
    expect(frame).toMatchObject({ op: 1, type: '#sync', body: { did, rev: head.rev } })
    const row = pds.ctx.accountDb.sqlite.prepare('SELECT rev, cid FROM repo_root WHERE did = ?').get(did) as { rev: string; cid: string }
    expect(row).toEqual({ rev: head.rev, cid: head.cid })

    // a clean restart announces nothing
    await pds.destroy()
    pds = await startTestPds(plc.url, dataDir, { PDS_PORT: port }, secrets)
    expect(pds.ctx.sequencer.currentSeq).toBe(seqBefore)
  } finally {
    await pds.destroy()
    await plc.destroy()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
