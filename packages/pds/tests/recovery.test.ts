import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { decodeFrame } from '@atsuite/common'
import { PlcServer } from '@atsuite/plc'
import { startTestPds, testSecrets } from '@atsuite/dev-env'
import { AtpAgent } from '@atproto/api'
import type { PDS } from '../src/index.ts'
import { parseCid } from '@atproto/lex-data'
import { MemoryBlockstore, Repo } from '@atproto/repo'
import { prepareCreate, prepareDelete } from '../src/repo/prepare.ts'
import { HEAD_SQL } from '../src/actor-store/db.ts'
import { verifiedRepoRecords } from './_util.ts'

// A commit's #commit event is written into the account's store in the
// commit's transaction and queued for the firehose log right after (written
// at the end of the turn). These tests
// recreate, on real files, the states a kill -9 or a failing log leaves, and
// check that each commit reaches the firehose exactly once, as the #commit it
// was committed as.

let dir: string
let plc: PlcServer
const secrets = testSecrets()

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pds-recovery-'))
  plc = await PlcServer.create({ port: 0, host: '127.0.0.1', dbLocation: path.join(dir, 'plc.sqlite') })
  await plc.start()
})

afterAll(async () => {
  await plc.destroy()
  fs.rmSync(dir, { recursive: true, force: true })
})

type Frame = { seq: number; type: string; body: Record<string, unknown> }
const framesAfter = (pds: PDS, seq: number): Frame[] =>
  pds.ctx.sequencer.after(seq, 1000).map((row) => {
    const f = decodeFrame(row.frame) as { type: string; body: Record<string, unknown> }
    return { seq: row.seq, type: f.type, body: f.body }
  })

const setup = async (name: string) => {
  const dataDir = path.join(dir, name)
  const pds = await startTestPds(plc.url, dataDir, {}, secrets)
  const agent = new AtpAgent({ service: pds.url })
  await agent.createAccount({ handle: `${name}.test`, email: `${name}@example.com`, password: 'password-123' })
  return { dataDir, pds, agent, did: agent.session!.did, port: String(pds.port) }
}

/** Two posts: the first commit's head (`announced`) and the second's (`head`). */
const twoPosts = async (agent: AtpAgent, did: string) => {
  await agent.post({ text: 'first', createdAt: new Date().toISOString() })
  const announced = (await agent.com.atproto.sync.getLatestCommit({ did })).data
  await agent.post({ text: 'second', createdAt: new Date().toISOString() })
  const head = (await agent.com.atproto.sync.getLatestCommit({ did })).data
  return { announced, head }
}

/** The account DB records `head` as the last sequenced head of `did` (as before the last commit's append). */
const recordSequencedHead = (dataDir: string, did: string, head: { rev: string; cid: string }) => {
  const accounts = new Database(path.join(dataDir, 'account.sqlite'))
  accounts.prepare('UPDATE repo_root SET rev = ?, cid = ? WHERE did = ?').run(head.rev, head.cid, did)
  accounts.close()
}

/** Stops the PDS as kill -9 would leave it: no clean-shutdown marker. */
const crash = async (pds: PDS, dataDir: string) => {
  await pds.destroy()
  fs.rmSync(path.join(dataDir, 'clean-shutdown'))
  // let the client's pool see its keep-alive sockets closed before the next server takes the port
  await new Promise((r) => setTimeout(r, 20))
}

test('a commit whose event never reached the log is sequenced at restart as its #commit, byte for byte', async () => {
  const { dataDir, pds: first, agent, did, port } = await setup('outbox')
  let pds = first
  try {
    const { announced, head } = await twoPosts(agent, did)
    const lastSeq = pds.ctx.sequencer.currentSeq
    const lost = pds.ctx.sequencer.after(lastSeq - 1, 1)[0]
    expect(decodeFrame(lost.frame)).toMatchObject({ type: '#commit', body: { repo: did, rev: head.rev, since: announced.rev } })
    await crash(pds, dataDir)

    // the state of a kill -9 right after the commit's transaction: the event is not in the log, and the
    // account DB still records the previous head as the last sequenced one
    const log = new Database(path.join(dataDir, 'sequencer.sqlite'))
    log.prepare('DELETE FROM event_log WHERE seq = ?').run(lastSeq)
    log.close()
    recordSequencedHead(dataDir, did, announced)

    pds = await startTestPds(plc.url, dataDir, { PDS_PORT: port }, secrets)
    expect(pds.ctx.sequencer.currentSeq).toBe(lastSeq)
    const [again] = pds.ctx.sequencer.after(lastSeq - 1, 1)
    expect(Buffer.compare(again.frame, lost.frame)).toBe(0)
    pds.ctx.accounts.flushRoots() // repo_root is written behind
    const row = pds.ctx.accountDb.sqlite.prepare('SELECT rev, cid FROM repo_root WHERE did = ?').get(did) as { rev: string; cid: string }
    expect(row).toEqual({ rev: head.rev, cid: head.cid })

    // the next commit follows it (since = the recovered commit's rev), and a clean restart adds nothing
    await agent.post({ text: 'third', createdAt: new Date().toISOString() })
    const next = framesAfter(pds, lastSeq)
    expect(next.map((f) => [f.type, f.body.since])).toEqual([['#commit', head.rev]])
    const seq = pds.ctx.sequencer.currentSeq
    await pds.destroy()
    pds = await startTestPds(plc.url, dataDir, { PDS_PORT: port }, secrets)
    expect(pds.ctx.sequencer.currentSeq).toBe(seq)
  } finally {
    await pds.destroy()
  }
})

test("an account's next commit writes its queued event first: the commit prunes that event's outbox row", async () => {
  const { pds, did } = await setup('queued')
  try {
    const write = (text: string) =>
      prepareCreate({ did: did as `did:${string}:${string}`, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() } })
    const seq = pds.ctx.sequencer.currentSeq
    // the log's own rows, read without writing what is queued (as the log's reads do)
    const written = () =>
      (pds.ctx.sequencer.db.prepare('SELECT frame FROM event_log WHERE seq > ? ORDER BY seq').all(seq) as { frame: Buffer }[]).map(
        (r) => (decodeFrame(r.frame) as unknown as { body: { rev: string } }).body.rev,
      )
    // both prepared first, so nothing between the two commits can give the event loop a turn
    const [a, b] = [await write('first'), await write('second')]
    const first = await pds.ctx.repoWriter.processWrites(did, [a])
    // committed, its event queued for the end of the turn: in the outbox, not in the log yet
    expect(written()).toEqual([])
    const second = await pds.ctx.repoWriter.processWrites(did, [b])
    // the second commit left only its own outbox row; the first's event was written before that
    const rows = pds.ctx.actorStore.read(did, (db) => db.outboxAfter(''))
    expect(rows.map((r) => r.rev)).toEqual([second.rev])
    expect(written()).toEqual([first.rev])
    await new Promise((r) => setImmediate(r))
    expect(written()).toEqual([first.rev, second.rev])
  } finally {
    await pds.destroy()
  }
})

test('a crash after the event was appended (before the head was recorded) does not announce it twice', async () => {
  const { dataDir, pds: first, agent, did, port } = await setup('twice')
  let pds = first
  try {
    const { announced } = await twoPosts(agent, did)
    const seq = pds.ctx.sequencer.currentSeq
    await crash(pds, dataDir)
    recordSequencedHead(dataDir, did, announced)

    pds = await startTestPds(plc.url, dataDir, { PDS_PORT: port }, secrets)
    expect(pds.ctx.sequencer.currentSeq).toBe(seq)
    const head = (await agent.com.atproto.sync.getLatestCommit({ did })).data
    expect(pds.ctx.accounts.repoRootRev(did)).toBe(head.rev)
  } finally {
    await pds.destroy()
  }
})

test('a head no commit event covers (a store moved outside a commit) is announced with #sync', async () => {
  const { dataDir, pds: first, agent, did, port } = await setup('resync')
  let pds = first
  try {
    const { announced, head } = await twoPosts(agent, did)
    await crash(pds, dataDir)
    const store = new Database(pds.ctx.actorStore.location(did).dbPath)
    // (the PDS closed its stores, which wrote their blocks: the head's commit block is stored)
    store.prepare('DELETE FROM outbox').run()
    store.close()
    recordSequencedHead(dataDir, did, announced)

    const seq = pds.ctx.sequencer.currentSeq
    pds = await startTestPds(plc.url, dataDir, { PDS_PORT: port }, secrets)
    expect(framesAfter(pds, seq)).toMatchObject([{ type: '#sync', body: { did, rev: head.rev } }])
  } finally {
    await pds.destroy()
  }
})

test('while the log refuses appends, writes are kept and their events follow in order once it recovers', async () => {
  const { pds, agent, did } = await setup('refused')
  try {
    await agent.post({ text: 'before', createdAt: new Date().toISOString() })
    const seq = pds.ctx.sequencer.currentSeq
    // a real SQLite failure on the log's connection: every write is refused (SQLITE_READONLY)
    pds.ctx.sequencer.db.pragma('query_only = ON')
    const acked = await agent.post({ text: 'during', createdAt: new Date().toISOString() })
    expect(pds.ctx.commits.backlog).toBe(1)
    expect(pds.ctx.sequencer.currentSeq).toBe(seq)
    // the repo's next commit cannot jump the queue: a clear 503, nothing committed
    const refused = await agent.post({ text: 'refused', createdAt: new Date().toISOString() }).catch((e) => e)
    expect(refused).toMatchObject({ status: 503, error: 'NotEnoughResources' })
    expect(refused.message).toMatch(/firehose log/)
    const records = await agent.com.atproto.repo.listRecords({ repo: did, collection: 'app.bsky.feed.post' })
    expect(records.data.records.map((r) => (r.value as { text: string }).text).sort()).toEqual(['before', 'during'])

    pds.ctx.sequencer.db.pragma('query_only = OFF')
    const deadline = Date.now() + 10_000
    while (pds.ctx.commits.backlog > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(pds.ctx.commits.backlog).toBe(0)
    await agent.post({ text: 'after', createdAt: new Date().toISOString() })
    const frames = framesAfter(pds, seq)
    expect(frames.map((f) => f.type)).toEqual(['#commit', '#commit'])
    const head = (await agent.com.atproto.sync.getLatestCommit({ did })).data
    expect(frames[1].body.since).toBe(frames[0].body.rev)
    expect(frames[1].body.rev).toBe(head.rev)
    expect((frames[0].body.ops as { path: string }[])[0].path).toBe(acked.uri.split('/').slice(-2).join('/'))
  } finally {
    await pds.destroy()
  }
})

/** Every block of a store file, by CID, and its head's CID (read with the file's own WAL). */
const storeBlocks = (file: string): { head: string; blocks: Map<string, Buffer> } => {
  const db = new Database(file, { readonly: true })
  try {
    const head = (db.prepare(HEAD_SQL).get() as { cid: string }).cid
    const rows = db.prepare('SELECT cid, content FROM repo_block').all() as { cid: string; content: Buffer }[]
    return { head, blocks: new Map(rows.map((r) => [r.cid, r.content])) }
  } finally {
    db.close()
  }
}

/** The CIDs a head reaches (its commit, MST nodes and records), computed by @atproto/repo from the given blocks. */
const reachedFrom = async (head: string, blocks: Map<string, Buffer>): Promise<string[]> => {
  const mem = new MemoryBlockstore()
  for (const [cid, bytes] of blocks) await mem.putBlock(parseCid(cid), bytes)
  const cids = (await (await Repo.load(mem, parseCid(head))).data.allCids()).toList().map(String)
  return [head, ...cids].sort()
}

test("a crash before a commit's blocks are written: the store's next opening writes them from the outbox", async () => {
  const { dataDir, pds: first, agent, did, port } = await setup('deferred')
  const crashedDir = path.join(dir, 'deferred-crashed')
  let pds = first
  try {
    const posts = []
    for (let i = 0; i < 12; i++) posts.push(await agent.post({ text: `post ${i}`, createdAt: new Date().toISOString() }))
    const rkeyOf = (uri: string) => uri.split('/').pop()!
    const create = await prepareCreate({
      did: did as `did:${string}:${string}`,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'written in the commit a crash cut short', createdAt: new Date().toISOString() },
    })
    const del = prepareDelete({ did: did as `did:${string}:${string}`, collection: 'app.bsky.feed.post', rkey: rkeyOf(posts[3].uri) })
    const seq = pds.ctx.sequencer.currentSeq
    const commit = await pds.ctx.repoWriter.processWrites(did, [create, del])
    // answered, and no turn of the event loop since: the files as a kill -9 now would leave them
    // (the commit's own transaction is in the store; its blocks and its firehose event are not)
    fs.cpSync(dataDir, crashedDir, { recursive: true, filter: (src) => !src.endsWith('-shm') })
    fs.rmSync(path.join(crashedDir, 'clean-shutdown'), { force: true })
    const storeFile = pds.ctx.actorStore.location(did).dbPath
    const crashedStore = path.join(crashedDir, path.relative(dataDir, storeFile))
    const cut = storeBlocks(crashedStore)
    expect(cut.head).toBe(commit.cid.toString())
    expect(cut.blocks.has(commit.cid.toString())).toBe(false)

    // the same commit, run to its end in the PDS that made it: what the store must hold
    await new Promise((r) => setImmediate(r))
    await pds.destroy()
    const expected = storeBlocks(storeFile)
    expect(expected.head).toBe(commit.cid.toString())
    expect([...expected.blocks.keys()].sort()).toEqual(await reachedFrom(expected.head, expected.blocks))

    // and the account DB without the head last sequenced: it is written behind (within 100 ms),
    // so an account made just before a crash may have none yet; its outbox must be found anyway
    const accounts = new Database(path.join(crashedDir, 'account.sqlite'))
    accounts.prepare('DELETE FROM repo_root WHERE did = ?').run(did)
    accounts.close()

    pds = await startTestPds(plc.url, crashedDir, { PDS_PORT: port }, secrets)
    // the commit reaches the firehose once, as its #commit
    expect(framesAfter(pds, seq)).toMatchObject([{ type: '#commit', body: { repo: did, rev: commit.rev } }])
    const { records, rev } = await verifiedRepoRecords(pds.url, plc.url, did)
    expect(rev).toBe(commit.rev)
    expect(records.has(`app.bsky.feed.post/${create.rkey}`)).toBe(true)
    expect(records.has(`app.bsky.feed.post/${rkeyOf(posts[3].uri)}`)).toBe(false)
    expect(records.size).toBe(12)
    await pds.destroy()

    // the same blocks as the commit that ran to its end: every added one, none it removed
    const redone = storeBlocks(crashedStore)
    expect([...redone.blocks.keys()].sort()).toEqual([...expected.blocks.keys()].sort())
  } finally {
    await pds.destroy()
    fs.rmSync(crashedDir, { recursive: true, force: true })
  }
})

test("a read of the store in the commit's own turn, before its blocks' transaction, finds them written", async () => {
  const { pds, agent, did } = await setup('settles')
  try {
    await agent.post({ text: 'before', createdAt: new Date().toISOString() })
    const write = await prepareCreate({
      did: did as `did:${string}:${string}`,
      collection: 'app.bsky.feed.post',
      record: { $type: 'app.bsky.feed.post', text: 'read at once', createdAt: new Date().toISOString() },
    })
    const commit = await pds.ctx.repoWriter.processWrites(did, [write])
    // no turn of the event loop since the answer: the blocks' own transaction has not run
    const seen = pds.ctx.actorStore.read(did, (db) => ({
      commit: db.getBlock(commit.cid.toString()) !== undefined,
      record: db.getBlock(write.cid.toString()) !== undefined,
    }))
    expect(seen).toEqual({ commit: true, record: true })
    // and the repo a client downloads right after is whole
    const { records, rev } = await verifiedRepoRecords(pds.url, plc.url, did)
    expect(rev).toBe(commit.rev)
    expect(records.get(`app.bsky.feed.post/${write.rkey}`)).toBe(write.cid.toString())
  } finally {
    await pds.destroy()
  }
})
