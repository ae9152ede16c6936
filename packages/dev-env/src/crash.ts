/**
 * kill -9 harness for our PDS: the PDS runs as a child process (bin.ts,
 * configured purely by environment, as an operator runs it), takes
 * concurrent writes from several accounts, and is killed with SIGKILL
 * mid-stream, round after round. `audit()` then checks, through the public
 * protocol only, what a crash must never do:
 * - lose a write the PDS acknowledged (getRecord, and the signed repo
 *   verified against the DID document's key);
 * - put a commit on the firehose that is not in the repo, or leave one out:
 *   replaying every `#commit` op from cursor 0 must give exactly the repo's
 *   records, and each repo's last `#commit` is its head;
 * - break a repo's chain (`since` = the previous commit's rev, `prevData` =
 *   its MST root) or need a `#sync` (only account creation sends one);
 * - leave blocks behind: `getRepo` sends every block a store holds, and each
 *   must be one its head reaches (a commit cut short between its own
 *   transaction and its blocks' must neither lose nor strand any).
 * Used by the PDS's crash test (a few rounds) and `npm run crash:pds` (the long loop).
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import WebSocket from 'ws'
import { MemoryBlockstore, Repo, readCarWithRoot, verifyRepoCar } from '@atproto/repo'
import { cidKey, decodeFrame, parseCar } from '@atsuite/common'
import { decodeCbor, type CidRef } from '@atsuite/common/dag-cbor'
import { PlcServer } from '@atsuite/plc'
import { ChildService, childPdsEnv, childPdsSecrets } from './child.ts'
import { freePort } from './util.ts'

const COLLECTION = 'com.example.record'

export type CrashHarnessOptions = {
  /** a temp directory the harness owns */
  dir: string
  users?: number
  loopsPerUser?: number
  /** kill once this many writes are acknowledged in a round, or after killAfterMs, whichever is first */
  killAfterAcks?: number
  killAfterMs?: number
}

export type RoundReport = { acked: number; inFlightAtKill: number; serverErrors: string[]; restartMs: number }

/** The lists of a CrashAudit that must all be empty. */
export const auditFailures = (a: CrashAudit): Record<string, string[]> => ({
  lost: a.lost,
  lostFromSignedRepo: a.lostFromSignedRepo,
  unverified: a.unverified,
  resyncs: a.resyncs,
  chainBreaks: a.chainBreaks,
  duplicates: a.duplicates,
  replayMismatch: a.replayMismatch,
  indexMismatch: a.indexMismatch,
  strayBlocks: a.strayBlocks,
})

export type CrashAudit = {
  acknowledged: number
  /** acknowledged writes not readable with their CID */
  lost: string[]
  /** acknowledged writes missing from the signed repo */
  lostFromSignedRepo: string[]
  /** repos whose signature or MST did not verify */
  unverified: string[]
  commits: number
  /** #sync events beyond account creation's */
  resyncs: string[]
  /** commits whose since/prevData do not follow the previous commit of their repo */
  chainBreaks: string[]
  /** the same rev announced twice */
  duplicates: string[]
  /** repos whose firehose replay differs from their records, or whose last #commit is not the head */
  replayMismatch: string[]
  /** repos whose record index (listRecords) differs from the signed repo: a half-applied commit */
  indexMismatch: string[]
  /** repos whose store (all of it is in getRepo) holds blocks its head does not reach */
  strayBlocks: string[]
}

type User = { did: string; handle: string; accessJwt: string }
type Ack = { did: string; path: string; uri: string; cid: string }
type Json = Record<string, any>

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

const xrpc = async (base: string, nsid: string, opts: { body?: unknown; params?: Record<string, string>; token?: string } = {}) => {
  const qs = opts.params ? `?${new URLSearchParams(opts.params)}` : ''
  const res = await fetch(`${base}/xrpc/${nsid}${qs}`, {
    method: opts.body === undefined ? 'GET' : 'POST',
    headers: {
      ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  })
  const bytes = new Uint8Array(await res.arrayBuffer())
  let json: Json = {}
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    // not JSON (a CAR)
  }
  return { status: res.status, json, bytes, brief: `${res.status} ${Buffer.from(bytes.subarray(0, 200)).toString('utf8')}` }
}

export class PdsCrashHarness {
  private readonly opts: Required<CrashHarnessOptions>
  private readonly plc: PlcServer
  private readonly port: number
  readonly url: string
  private readonly pds: ChildService
  private readonly users: User[] = []
  private readonly acks: Ack[] = []
  private readonly secrets = childPdsSecrets()

  private constructor(opts: Required<CrashHarnessOptions>, plc: PlcServer, port: number) {
    this.opts = opts
    this.plc = plc
    this.port = port
    this.url = `http://localhost:${port}`
    this.pds = new ChildService(
      'packages/pds/src/bin.ts',
      () => childPdsEnv({ port: this.port, dataDirectory: path.join(this.opts.dir, 'pds'), plcUrl: this.plc.url, secrets: this.secrets }),
      () => `${this.url}/xrpc/_health`,
    )
  }

  static async create(options: CrashHarnessOptions): Promise<PdsCrashHarness> {
    const opts = { users: 4, loopsPerUser: 3, killAfterAcks: 150, killAfterMs: 1500, ...options }
    const plc = await PlcServer.create({ port: 0, host: '127.0.0.1', dbLocation: path.join(opts.dir, 'plc.sqlite') })
    await plc.start()
    const h = new PdsCrashHarness(opts, plc, await freePort())
    await h.start()
    for (let i = 0; i < opts.users; i++) {
      const handle = `crash${i}.test`
      const r = await xrpc(h.url, 'com.atproto.server.createAccount', {
        body: { handle, email: `crash${i}@example.com`, password: 'hunter2-password' },
      })
      if (r.status !== 200) throw new Error(`createAccount ${handle}: ${r.brief}`)
      h.users.push({ did: r.json.did, handle, accessJwt: r.json.accessJwt })
    }
    return h
  }

  get acknowledged(): number {
    return this.acks.length
  }

  private start(): Promise<void> {
    return this.pds.start()
  }

  private kill(): Promise<void> {
    return this.pds.kill()
  }

  /**
   * Concurrent writers (single creates, and every fifth op a 3-record
   * applyWrites) until the PDS is SIGKILLed, then a restart on the same data.
   */
  async round(round: number): Promise<RoundReport> {
    let killed = false
    let inFlight = 0
    const serverErrors: string[] = []
    const before = this.acks.length
    const started = Date.now()
    const loop = async (user: User, loopNo: number) => {
      for (let n = 0; !killed; n++) {
        const batch = n % 5 === 4
        const body = batch
          ? {
              repo: user.did,
              writes: [0, 1, 2].map((k) => ({
                $type: 'com.atproto.repo.applyWrites#create',
                collection: COLLECTION,
                value: { $type: COLLECTION, round, loop: loopNo, n, k, text: 'batched write' },
              })),
            }
          : { repo: user.did, collection: COLLECTION, record: { $type: COLLECTION, round, loop: loopNo, n, text: 'single write' } }
        inFlight++
        try {
          const nsid = batch ? 'com.atproto.repo.applyWrites' : 'com.atproto.repo.createRecord'
          const r = await xrpc(this.url, nsid, { body, token: user.accessJwt })
          if (r.status === 200) {
            const results: { uri: string; cid: string }[] = batch ? r.json.results : [r.json]
            for (const res of results) {
              const [, , did, collection, rkey] = res.uri.split('/')
              this.acks.push({ did, path: `${collection}/${rkey}`, uri: res.uri, cid: res.cid })
            }
          } else if (r.status >= 500 && !killed) {
            serverErrors.push(r.brief)
          }
        } catch {
          // connection cut by the kill: never acknowledged
          if (!killed) await sleep(5)
        } finally {
          inFlight--
        }
      }
    }
    const loops = this.users.flatMap((u) => Array.from({ length: this.opts.loopsPerUser }, (_, i) => loop(u, i)))
    while (this.acks.length - before < this.opts.killAfterAcks && Date.now() - started < this.opts.killAfterMs) await sleep(2)
    // a random moment within the next few milliseconds, so kills land anywhere in a commit
    await sleep(Math.floor(Math.random() * 5))
    const inFlightAtKill = inFlight
    killed = true
    await this.kill()
    await Promise.all(loops)
    const t0 = Date.now()
    await this.start()
    return { acked: this.acks.length - before, inFlightAtKill, serverErrors, restartMs: Date.now() - t0 }
  }

  /** Checks everything a crash must not break (see the file's comment). Writes one more record per account first. */
  async audit(): Promise<CrashAudit> {
    const audit: CrashAudit = {
      acknowledged: 0,
      lost: [],
      lostFromSignedRepo: [],
      unverified: [],
      commits: 0,
      resyncs: [],
      chainBreaks: [],
      duplicates: [],
      replayMismatch: [],
      indexMismatch: [],
      strayBlocks: [],
    }
    // the server takes writes again, and each repo's newest commit marks the end of what to read
    for (const u of this.users) {
      const r = await xrpc(this.url, 'com.atproto.repo.createRecord', {
        body: { repo: u.did, collection: COLLECTION, record: { text: 'after the crashes' } },
        token: u.accessJwt,
      })
      if (r.status !== 200) throw new Error(`write after restart: ${r.brief}`)
      const [, , did, collection, rkey] = r.json.uri.split('/')
      this.acks.push({ did, path: `${collection}/${rkey}`, uri: r.json.uri, cid: r.json.cid })
    }
    audit.acknowledged = this.acks.length

    for (let i = 0; i < this.acks.length; i += 25) {
      await Promise.all(
        this.acks.slice(i, i + 25).map(async (a) => {
          const [collection, rkey] = a.path.split('/')
          const r = await xrpc(this.url, 'com.atproto.repo.getRecord', { params: { repo: a.did, collection, rkey } })
          if (r.status !== 200) audit.lost.push(`${a.uri}: ${r.brief}`)
          else if (r.json.cid !== a.cid) audit.lost.push(`${a.uri}: cid ${r.json.cid}, acknowledged ${a.cid}`)
        }),
      )
    }

    const repos = new Map<string, { rev: string; records: Map<string, string> }>()
    for (const u of this.users) {
      const car = await xrpc(this.url, 'com.atproto.sync.getRepo', { params: { did: u.did } })
      const doc = (await (await fetch(`${this.plc.url}/${encodeURIComponent(u.did)}`)).json()) as Json
      const vm = (doc.verificationMethod as { id: string; publicKeyMultibase: string }[]).find((m) => m.id.endsWith('#atproto'))!
      try {
        const verified = await verifyRepoCar(car.bytes, u.did, `did:key:${vm.publicKeyMultibase}`)
        const { root, blocks } = await readCarWithRoot(car.bytes)
        const reached = new Set([root.toString(), ...(await (await Repo.load(new MemoryBlockstore(blocks), root)).data.allCids()).toList().map(String)])
        const stray = blocks.cids().map(String).filter((c) => !reached.has(c))
        if (stray.length > 0) audit.strayBlocks.push(`${u.did}: ${stray.length} of ${blocks.size} blocks not reached from the head (${stray.slice(0, 3).join(' ')})`)
        const records = new Map(verified.creates.map((c) => [`${c.collection}/${c.rkey}`, c.cid.toString()]))
        repos.set(u.did, { rev: verified.commit.rev, records })
        for (const a of this.acks) if (a.did === u.did && records.get(a.path) !== a.cid) audit.lostFromSignedRepo.push(a.uri)
        const listed: string[] = []
        let cursor: string | undefined
        do {
          const page = await xrpc(this.url, 'com.atproto.repo.listRecords', {
            params: { repo: u.did, collection: COLLECTION, limit: '100', ...(cursor ? { cursor } : {}) },
          })
          const recs = (page.json.records ?? []) as { uri: string; cid: string }[]
          for (const r of recs) listed.push(`${COLLECTION}/${r.uri.split('/').pop()} ${r.cid}`)
          cursor = recs.length > 0 ? page.json.cursor : undefined
        } while (cursor)
        const inRepo = [...records].filter(([p]) => p.startsWith(`${COLLECTION}/`)).map(([p, cid]) => `${p} ${cid}`)
        if (listed.sort().join('\n') !== inRepo.sort().join('\n')) audit.indexMismatch.push(`${u.did}: ${listed.length} indexed, ${inRepo.length} in the signed repo`)
      } catch (err) {
        audit.unverified.push(`${u.did}: ${(err as Error).message}`)
      }
    }

    const events = await this.readFirehose(repos)
    for (const u of this.users) {
      const mine = events.filter((e) => e.did === u.did)
      const syncs = mine.filter((e) => e.type === '#sync')
      if (syncs.length > 1) audit.resyncs.push(...syncs.slice(1).map((s) => `${u.did} seq ${s.seq} rev ${s.body.rev}`))
      const commits = mine.filter((e) => e.type === '#commit')
      audit.commits += commits.length
      const state = new Map<string, string>()
      const revs = new Set<string>()
      let prev: { rev: string; data: string } | null = null
      for (const c of commits) {
        const rev = String(c.body.rev)
        if (revs.has(rev)) audit.duplicates.push(`${u.did} rev ${rev} (seq ${c.seq})`)
        revs.add(rev)
        const data = commitData(c.body)
        if (prev) {
          const since = c.body.since as string | null
          const prevData = c.body.prevData ? String(c.body.prevData) : null
          if (since !== prev.rev || prevData !== prev.data) {
            audit.chainBreaks.push(`${u.did} seq ${c.seq}: since ${since} prevData ${prevData}, previous commit rev ${prev.rev} data ${prev.data}`)
          }
        }
        prev = { rev, data }
        for (const op of c.body.ops as { action: string; path: string; cid: CidRef | null }[]) {
          if (op.action === 'delete') state.delete(op.path)
          else state.set(op.path, String(op.cid))
        }
      }
      const repo = repos.get(u.did)
      if (!repo) continue
      if (prev?.rev !== repo.rev) audit.replayMismatch.push(`${u.did}: last #commit rev ${prev?.rev}, head ${repo.rev}`)
      const extra = [...state].filter(([p, cid]) => repo.records.get(p) !== cid).map(([p]) => p)
      const missing = [...repo.records.keys()].filter((p) => !state.has(p))
      if (extra.length || missing.length) {
        audit.replayMismatch.push(`${u.did}: on the firehose but not in the repo: [${extra.slice(0, 5)}] (${extra.length}); in the repo but not on the firehose: [${missing.slice(0, 5)}] (${missing.length})`)
      }
    }
    return audit
  }

  /** subscribeRepos from cursor 0 until every repo's head commit has been seen. */
  private readFirehose(repos: Map<string, { rev: string }>): Promise<{ seq: number; did: string; type: string; body: Json }[]> {
    const events: { seq: number; did: string; type: string; body: Json }[] = []
    const waiting = new Map([...repos].map(([did, r]) => [did, r.rev]))
    const ws = new WebSocket(`ws://localhost:${this.port}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate()
        reject(new Error(`firehose: heads not seen within 60 s: ${[...waiting.keys()]}`))
      }, 60_000)
      ws.on('message', (data: Buffer) => {
        const frame = decodeFrame(new Uint8Array(data))
        if (frame.op !== 1) return
        const body = frame.body as Json
        const did = String(body.repo ?? body.did)
        events.push({ seq: Number(body.seq), did, type: frame.type, body })
        if (frame.type === '#commit' && waiting.get(did) === body.rev) waiting.delete(did)
        if (waiting.size === 0) {
          clearTimeout(timer)
          ws.close()
          resolve(events)
        }
      })
      ws.on('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
    })
  }

  async destroy(): Promise<void> {
    await this.kill()
    await this.plc.destroy().catch(() => undefined)
    await fs.rm(this.opts.dir, { recursive: true, force: true })
  }

  /** What the PDS printed last (for failure messages). */
  get log(): string {
    return this.pds.log
  }
}

/** The MST root a #commit's commit block names. */
const commitData = (body: Json): string => {
  const { blocks } = parseCar(body.blocks as Uint8Array)
  const bytes = blocks.get(cidKey(body.commit as CidRef))
  if (!bytes) return '(commit block missing)'
  return String((decodeCbor(bytes) as { data: CidRef }).data)
}
