// Turns planned events into subscribeRepos `#commit` frames. Every block's
// CID is honest (sha-256 of its DAG-CBOR). What the frames do NOT carry: a
// full MST and a real signature. The app view trusts its upstream relay for
// both (the relay verifies signatures and MST inversion), so each commit's
// `data` is the CID of a stand-in MST node holding only the written entry
// (included in the CAR), and `sig` is 64 zero bytes; a relay would refuse
// these commits, the app view must not care.
//
// Deterministic: rev and rkey of event i are the TID of its planned time
// (t0 + i·dt, clock id from the account), a post's record (and so its CID,
// which likes, reposts and replies name) is a function of its index alone.
import { CborWriter, cidBytes, cidFromDigest, cidString, sha256 } from './cbor.ts'
import { varint } from '@atsuite/common'
import { FOLLOW, GENESIS, LIKE, POST, REPOST, type Plan } from './plan.ts'

const ZERO_SIG = new Uint8Array(64)
const S32 = '234567abcdefghijklmnopqrstuvwxyz'

/** A TID: 11 base32-sortable chars of microseconds, 2 of clock id. */
export const tid = (micros: number, clockId: number): string => {
  let out = ''
  let v = micros
  for (let i = 0; i < 11; i++) {
    out = S32[v % 32] + out
    v = Math.floor(v / 32)
  }
  return out + S32[(clockId >> 5) & 31] + S32[clockId & 31]
}

const WORDS = (
  'the a of to and in is it you that he was for on are with as his they be at one have this from or had by hot word but what some we ' +
  'can out other were all there when up use your how said an each she which do their time if will way about many then them write would ' +
  'like so these her long make thing see him two has look more day could go come did number sound no most people my over know water than ' +
  'call first who may down side been now find any new work part take get place made live where after back little only round man year came ' +
  'show every good me give our under name very through just form sentence great think say help low line differ turn cause much mean before ' +
  'move right boy old too same tell does set three want air well also play small end put home read hand port large spell add even land here'
).split(' ')

/** Text of a length 40–200 chars, a pure function of `n`. */
const textFor = (n: number): string => {
  let x = (n * 2654435761) >>> 0
  const len = 8 + (x % 30)
  const out: string[] = []
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out.push(WORDS[(x >>> 8) % WORDS.length])
  }
  return out.join(' ')
}

type Ref = { uri: string; cid: string }

/** The frame header {t: '#commit', op: 1}, canonical order. */
const COMMIT_HEADER = new CborWriter().map(2).text('t').text('#commit').text('op').uint(1).take()

const carWriter = new CborWriter()

/** CARv1 with one root, blocks in order. */
const car = (root: Uint8Array, blocks: [Uint8Array, Uint8Array][]): Buffer => {
  const header = carWriter.map(2).text('roots').array(1).cid(root).text('version').uint(1).take()
  const parts: Uint8Array[] = [varint(header.length), header]
  for (const [cid, bytes] of blocks) parts.push(varint(cid.length + bytes.length), cid, bytes)
  return Buffer.concat(parts)
}

export class FrameEncoder {
  private readonly plan: Plan
  private readonly dids: string[]
  private readonly t0: number
  private readonly dt: number
  private readonly w = new CborWriter()
  /** sha-256 digests of post records (their CIDs), computed on demand */
  private readonly postDigest: Uint8Array
  private readonly postKnown: Uint8Array

  /** `t0Micros`: time of event 0; events are `dtMicros` apart. */
  constructor(plan: Plan, dids: string[], t0Micros: number, dtMicros: number) {
    this.plan = plan
    this.dids = dids
    this.t0 = t0Micros
    this.dt = dtMicros
    this.postDigest = new Uint8Array(plan.params.posts * 32)
    this.postKnown = new Uint8Array(plan.params.posts)
  }

  timeOf(e: number): number {
    return this.t0 + e * this.dt
  }

  rev(e: number): string {
    return tid(this.timeOf(e), this.plan.actor[e] % 1024)
  }

  isoTime(e: number): string {
    return new Date(Math.floor(this.timeOf(e) / 1000)).toISOString()
  }

  postUri(p: number): string {
    const e = this.plan.postEvent[p]
    return `at://${this.dids[this.plan.actor[e]]}/app.bsky.feed.post/${this.rev(e)}`
  }

  private postRef(p: number): Ref {
    return { uri: this.postUri(p), cid: cidString(this.postCid(p)) }
  }

  private ref(r: Ref): void {
    this.w.map(2).text('cid').text(r.cid).text('uri').text(r.uri)
  }

  /** A post's record bytes (its reply refs computed first: the writer is not re-entrant). */
  postRecord(p: number): Buffer {
    const e = this.plan.postEvent[p]
    const parent = this.plan.postParent[p]
    const reply = parent >= 0 ? { root: this.postRef(this.plan.postRoot[p]), parent: this.postRef(parent) } : null
    const w = this.w
    w.map(reply ? 5 : 4).text('text').text(textFor(p)).text('$type').text('app.bsky.feed.post').text('langs').array(1).text('en')
    if (reply) {
      w.text('reply').map(2).text('root')
      this.ref(reply.root)
      w.text('parent')
      this.ref(reply.parent)
    }
    w.text('createdAt').text(this.isoTime(e))
    return w.take()
  }

  postCid(p: number): Buffer {
    if (!this.postKnown[p]) {
      this.postDigest.set(sha256(this.postRecord(p)), p * 32)
      this.postKnown[p] = 1
    }
    return cidFromDigest(this.postDigest.subarray(p * 32, p * 32 + 32))
  }

  /** The record an event writes: [collection, rkey, bytes] (null for an empty genesis commit). */
  record(e: number): [string, string, Buffer] | null {
    const { type, arg } = this.plan
    const createdAt = this.isoTime(e)
    const w = this.w
    const subjectRecord = (t: string, subject: Ref) => {
      w.map(3).text('$type').text(t).text('subject')
      this.ref(subject)
      return w.text('createdAt').text(createdAt).take()
    }
    switch (type[e]) {
      case GENESIS: {
        if (!arg[e]) return null
        const i = this.plan.actor[e]
        w.map(4).text('$type').text('app.bsky.actor.profile').text('createdAt').text(createdAt)
        w.text('description').text(textFor(1_000_000_000 + i)).text('displayName').text(`Account ${i}`)
        return ['app.bsky.actor.profile', 'self', w.take()]
      }
      case POST:
        return ['app.bsky.feed.post', this.rev(e), this.postRecord(arg[e])]
      case FOLLOW:
        w.map(3).text('$type').text('app.bsky.graph.follow').text('subject').text(this.dids[arg[e]]).text('createdAt').text(createdAt)
        return ['app.bsky.graph.follow', this.rev(e), w.take()]
      case LIKE:
        return ['app.bsky.feed.like', this.rev(e), subjectRecord('app.bsky.feed.like', this.postRef(arg[e]))]
      case REPOST:
        return ['app.bsky.feed.repost', this.rev(e), subjectRecord('app.bsky.feed.repost', this.postRef(arg[e]))]
      default:
        throw new Error(`unknown event type ${type[e]}`)
    }
  }

  /** The `#commit` frame of event `e`, sequenced `seq`. */
  frame(e: number, seq: number): Buffer {
    const did = this.dids[this.plan.actor[e]]
    const rev = this.rev(e)
    const prev = this.plan.prev[e]
    const rec = this.record(e)
    const w = this.w
    let recCid: Buffer | null = null
    let path = ''
    // stand-in MST node {e: [entry], l: null}
    w.map(2).text('e')
    if (rec) {
      recCid = cidBytes(rec[2])
      path = `${rec[0]}/${rec[1]}`
      w.array(1).map(4).text('k').bytes(Buffer.from(path, 'ascii')).text('p').uint(0).text('t').null().text('v').cid(recCid)
    } else {
      w.array(0)
    }
    const node = w.text('l').null().take()
    const dataCid = cidBytes(node)
    const commit = w.map(6).text('did').text(did).text('rev').text(rev).text('sig').bytes(ZERO_SIG).text('data').cid(dataCid).text('prev').null().text('version').uint(3).take()
    const commitCid = cidBytes(commit)
    const blocks: [Uint8Array, Uint8Array][] = [
      [commitCid, commit],
      [dataCid, node],
    ]
    if (rec && recCid) blocks.push([recCid, rec[2]])
    w.raw(COMMIT_HEADER).map(11)
    w.text('ops')
    if (recCid) w.array(1).map(3).text('cid').cid(recCid).text('path').text(path).text('action').text('create')
    else w.array(0)
    w.text('rev').text(rev).text('seq').uint(seq).text('repo').text(did).text('time').text(this.isoTime(e))
    w.text('blobs').array(0).text('since')
    if (prev >= 0) w.text(this.rev(prev))
    else w.null()
    w.text('blocks').bytes(car(commitCid, blocks)).text('commit').cid(commitCid)
    w.text('rebase').bool(false).text('tooBig').bool(false)
    return w.take()
  }
}
