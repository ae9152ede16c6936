/**
 * A batch is applied account by account (`inAccountOrder`), and a
 * transaction's notifications are written at its end, sorted by recipient:
 * the index that comes out is the one stream order gives, row for row, and a
 * record deleted in the batch that created it leaves no notification behind.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { toDatetimeString, type DidString } from '@atproto/syntax'
import { encodeCbor } from '@atsuite/common/dag-cbor-encode'
import { openAppViewDb, type AppViewDb } from '../src/db/index.ts'
import { IndexerCounters } from '../src/indexer/counters.ts'
import type { CommitEvent, RecordOp, StreamEvent } from '../src/indexer/events.ts'
import { inAccountOrder } from '../src/indexer/indexer.ts'
import { RecordProcessor } from '../src/indexer/processor.ts'
import { IndexWriter } from '../src/indexer/writer.ts'

const A = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa' as DidString
const B = 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb' as DidString
const C = 'did:plc:cccccccccccccccccccccccc' as DidString
const POST = 'app.bsky.feed.post'
const LIKE = 'app.bsky.feed.like'
const FOLLOW = 'app.bsky.graph.follow'

let dir: string
const dbs: AppViewDb[] = []
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'appview-batch-order-'))
})
afterAll(async () => {
  for (const db of dbs) await db.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

const cidOf = async (bytes: Uint8Array): Promise<string> => CID.createV1(0x71, await sha256.digest(bytes)).toString()

type Op = { did: DidString; op: RecordOp }
const create = async (did: DidString, collection: string, rkey: string, record: Record<string, unknown>): Promise<Op & { uri: string; cid: string }> => {
  const block = encodeCbor({ $type: collection, ...record })
  const cid = await cidOf(block)
  return { did, op: { action: 'create', collection, rkey, cid, block }, uri: `at://${did}/${collection}/${rkey}`, cid }
}
const remove = (did: DidString, collection: string, rkey: string): Op => ({ did, op: { action: 'delete', collection, rkey } })

const commit = (seq: number, { did, op }: Op): CommitEvent => ({
  type: 'commit',
  seq,
  did,
  rev: `3l${String(seq).padStart(11, '2')}`,
  since: null,
  commitCid: '',
  dataCid: '',
  prevData: null,
  tooBig: false,
  ops: [op],
  time: '',
})

const open = async (name: string): Promise<{ db: AppViewDb; w: IndexWriter; processor: RecordProcessor }> => {
  const db = await openAppViewDb(path.join(dir, `${name}.sqlite`))
  dbs.push(db)
  const w = new IndexWriter(db.sqlite)
  return { db, w, processor: new RecordProcessor(w, new IndexerCounters(), 1_000_000) }
}

/** Everything the batch wrote, ids left out (they follow the order rows were written in). */
const contents = (db: AppViewDb) => {
  const q = (sql: string) => db.sqlite.prepare(sql).all()
  return {
    likes: q('SELECT uri, cid, subject, sortAt FROM "like" ORDER BY uri'),
    follows: q('SELECT uri, subject, sortAt FROM follow ORDER BY uri'),
    posts: q('SELECT uri, replyParent, sortAt FROM post ORDER BY uri'),
    notifications: q('SELECT recipient, author, recordUri, reason, reasonSubject, sortAt FROM notification ORDER BY recordUri, recipient'),
    recordAgg: q('SELECT uri, likeCount, repostCount, replyCount, quoteCount FROM record_agg ORDER BY uri'),
    actorAgg: q('SELECT did, followersCount, followsCount, postsCount FROM actor_agg ORDER BY did'),
  }
}

test('inAccountOrder groups a batch by account, accounts in DID order, each in stream order', () => {
  const e = (seq: number, did: DidString): StreamEvent => ({ type: 'identity', seq, did, handle: null, time: '' })
  const batch = [e(1, C), e(2, A), e(3, B), e(4, C), e(5, A), e(6, C), e(7, B)]
  expect(inAccountOrder(batch).map((x) => [x.did, x.seq])).toEqual([
    [A, 2],
    [A, 5],
    [B, 3],
    [B, 7],
    [C, 1],
    [C, 4],
    [C, 6],
  ])
  const one = [e(9, B)]
  expect(inAccountOrder(one)).toBe(one)
})

test('a batch applied account by account indexes what stream order indexes; deletes in the batch take their notifications', async () => {
  const createdAt = '2026-12-01T10:00:00.000Z'
  const at = (m: number) => `2026-12-01T10:${String(m).padStart(2, '0')}:00.000Z`
  const p1 = await create(A, POST, '3lpost0000001', { text: 'first', createdAt })
  const ref = { uri: p1.uri, cid: p1.cid }
  // C's events come first in the stream, A's post after likes of it
  const stream: Op[] = [
    await create(C, LIKE, '3llike0000001', { subject: ref, createdAt: at(1) }),
    await create(B, LIKE, '3llike0000002', { subject: ref, createdAt: at(2) }),
    p1,
    // B likes the post twice: one like counts, the first notifies
    await create(B, LIKE, '3llike0000003', { subject: ref, createdAt: at(3) }),
    await create(C, FOLLOW, '3lfollow00001', { subject: A, createdAt: at(4) }),
    await create(B, POST, '3lreply000001', { text: 'a reply', createdAt: at(5), reply: { root: ref, parent: ref } }),
    // B's first like goes: its duplicate carries the count and the notification on
    remove(B, LIKE, '3llike0000002'),
    // C's like goes in the batch that made it: nothing of it is left
    remove(C, LIKE, '3llike0000001'),
    await create(A, FOLLOW, '3lfollow00002', { subject: B, createdAt: at(6) }),
  ]
  const events = stream.map((op, i) => commit(i + 1, op))
  const indexedAt = toDatetimeString(new Date('2026-12-01T11:00:00.000Z'))
  const applyAll = async (name: string, order: StreamEvent[]) => {
    const { db, w, processor } = await open(name)
    w.transaction(() => {
      for (const evt of order) for (const op of (evt as CommitEvent).ops) processor.applyOp(evt.did, op, indexedAt)
    })
    return db
  }
  const inStreamOrder = contents(await applyAll('stream', events))
  const reordered = inAccountOrder(events)
  expect(reordered.map((e) => e.did)).toEqual([A, A, B, B, B, B, C, C, C])
  const byAccount = await applyAll('accounts', reordered)
  expect(contents(byAccount)).toEqual(inStreamOrder)

  // what both hold
  expect(inStreamOrder.likes).toEqual([{ uri: `at://${B}/${LIKE}/3llike0000003`, cid: expect.any(String), subject: p1.uri, sortAt: at(3) }])
  expect(inStreamOrder.notifications).toEqual([
    { recipient: B, author: A, recordUri: `at://${A}/${FOLLOW}/3lfollow00002`, reason: 'follow', reasonSubject: null, sortAt: at(6) },
    { recipient: A, author: B, recordUri: `at://${B}/${LIKE}/3llike0000003`, reason: 'like', reasonSubject: p1.uri, sortAt: at(3) },
    { recipient: A, author: B, recordUri: `at://${B}/${POST}/3lreply000001`, reason: 'reply', reasonSubject: p1.uri, sortAt: at(5) },
    { recipient: A, author: C, recordUri: `at://${C}/${FOLLOW}/3lfollow00001`, reason: 'follow', reasonSubject: null, sortAt: at(4) },
  ])
  expect(inStreamOrder.recordAgg).toEqual([{ uri: p1.uri, likeCount: 1, repostCount: 0, replyCount: 1, quoteCount: 0 }])
})

test("a transaction's notifications are written at its end, by recipient", async () => {
  const { db, w, processor } = await open('sorted')
  const createdAt = '2026-12-01T10:00:00.000Z'
  const likeOf = (rkey: string, post: string) => create(C, LIKE, rkey, { subject: { uri: post, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, createdAt })
  const likes = [
    await likeOf('3llike0000001', `at://${B}/${POST}/3lpost0000001`),
    await likeOf('3llike0000002', `at://${A}/${POST}/3lpost0000001`),
    await likeOf('3llike0000003', `at://${B}/${POST}/3lpost0000002`),
  ]
  w.transaction(() => {
    for (const { did, op } of likes) processor.applyOp(did, op, toDatetimeString(new Date()))
  })
  const rows = db.sqlite.prepare('SELECT recipient, recordUri FROM notification ORDER BY id').all()
  expect(rows).toEqual([
    { recipient: A, recordUri: likes[1]!.uri },
    { recipient: B, recordUri: likes[0]!.uri },
    { recipient: B, recordUri: likes[2]!.uri },
  ])
})
