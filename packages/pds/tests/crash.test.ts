/**
 * Durability under SIGKILL: our PDS runs as a child process (bin.ts, configured
 * purely by environment, as an operator runs it), takes concurrent writes from
 * several accounts, and is killed with `kill -9` mid-stream. After a restart on
 * the same data directory every write it acknowledged must be there with the
 * same CID, each repo must verify against its DID document key, and the record
 * index must agree with the signed repo. Two crash/restart cycles.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { PlcServer } from '@atsuite/plc'
import { freePort } from '@atsuite/dev-env'
import { REPO_ROOT, brief, listAll, sleep, verifiedRepoRecords, xget, xpost } from './_util.ts'

const NODE = path.join(REPO_ROOT, 'node_modules/.bin/node')
const COLLECTION = 'com.example.record'
const USERS = 4
const LOOPS_PER_USER = 3
/** kill once this many writes are acknowledged, or after KILL_AFTER_MS, whichever is first */
const KILL_AFTER_ACKS = 150
const KILL_AFTER_MS = 1500
const TIMEOUT_MS = 180_000

type User = { did: string; handle: string; accessJwt: string }
type Ack = { did: string; collection: string; rkey: string; uri: string; cid: string }

// fixed for every run of the process: sessions and the PLC rotation key survive restarts
const secrets = {
  PDS_JWT_SECRET: randomBytes(32).toString('hex'),
  PDS_ADMIN_PASSWORD: randomBytes(16).toString('hex'),
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: randomBytes(32).toString('hex'),
}

let dir: string
let plc: PlcServer | undefined
let port: number
let url: string
let child: ChildProcess | null = null
let childExit: Promise<void> = Promise.resolve()
let childLog = ''
const users: User[] = []
const acks: Ack[] = []

const childEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  PDS_PORT: String(port),
  PDS_DATA_DIRECTORY: path.join(dir, 'pds'),
  PDS_DID_PLC_URL: plc!.url,
  PDS_HOSTNAME: 'localhost',
  PDS_SERVICE_HANDLE_DOMAINS: '.test',
  PDS_INVITE_REQUIRED: 'false',
  LOG_ENABLED: 'false',
  ...secrets,
})

const startPds = async (): Promise<void> => {
  childLog = ''
  const proc = spawn(NODE, ['packages/pds/src/bin.ts'], { cwd: REPO_ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  const keep = (b: Buffer) => {
    childLog = (childLog + b.toString()).slice(-20_000)
  }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  let exited = false
  childExit = new Promise((resolve) =>
    proc.once('exit', () => {
      exited = true
      resolve()
    }),
  )
  child = proc
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (exited) throw new Error(`PDS exited during startup:\n${childLog}`)
    try {
      const res = await fetch(`${url}/xrpc/_health`)
      if (res.ok) return
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  throw new Error(`PDS did not become healthy within 30 s:\n${childLog}`)
}

const killPds = async (): Promise<void> => {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGKILL')
  await childExit
  child = null
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'atsuite-crash-'))
  plc = await PlcServer.create({ port: 0, host: '127.0.0.1', dbLocation: path.join(dir, 'plc.sqlite') })
  await plc.start()
  port = await freePort()
  url = `http://localhost:${port}`
  await startPds()
  for (let i = 0; i < USERS; i++) {
    const handle = `crash${i}.test`
    const r = await xpost(url, 'com.atproto.server.createAccount', { handle, email: `crash${i}@example.com`, password: 'hunter2-password' })
    if (r.status !== 200) throw new Error(`createAccount ${handle}: ${brief(r)}`)
    users.push({ did: r.json.did, handle, accessJwt: r.json.accessJwt })
  }
}, TIMEOUT_MS)

afterAll(async () => {
  try {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await childExit
    }
  } finally {
    await plc?.destroy().catch(() => undefined)
    if (dir) await fs.rm(dir, { recursive: true, force: true })
  }
}, TIMEOUT_MS)

/**
 * Concurrent writers (single creates, and every fifth op a 3-record
 * applyWrites) until the PDS is SIGKILLed. Returns how many requests were in
 * flight at the moment of the kill and any 5xx seen before it.
 */
const writeUntilKilled = async (cycle: number): Promise<{ acked: number; inFlightAtKill: number; serverErrors: string[] }> => {
  let killed = false
  let inFlight = 0
  let inFlightAtKill = 0
  const serverErrors: string[] = []
  const before = acks.length
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
              value: { $type: COLLECTION, cycle, loop: loopNo, n, k, text: 'batched write' },
            })),
          }
        : { repo: user.did, collection: COLLECTION, record: { $type: COLLECTION, cycle, loop: loopNo, n, text: 'single write' } }
      inFlight++
      try {
        const r = await xpost(url, batch ? 'com.atproto.repo.applyWrites' : 'com.atproto.repo.createRecord', body, user.accessJwt)
        if (r.status === 200) {
          const results: { uri: string; cid: string }[] = batch ? r.json.results : [r.json]
          for (const res of results) {
            const [, , did, collection, rkey] = res.uri.split('/')
            acks.push({ did, collection, rkey, uri: res.uri, cid: res.cid })
          }
        } else if (r.status >= 500 && !killed) {
          serverErrors.push(brief(r))
        }
      } catch {
        // connection cut by the kill: the write was never acknowledged
        if (!killed) await sleep(5)
      } finally {
        inFlight--
      }
    }
  }

  const loops = users.flatMap((u) => Array.from({ length: LOOPS_PER_USER }, (_, i) => loop(u, i)))
  while (acks.length - before < KILL_AFTER_ACKS && Date.now() - started < KILL_AFTER_MS) await sleep(5)
  inFlightAtKill = inFlight
  child!.kill('SIGKILL')
  killed = true
  await childExit
  child = null
  await Promise.all(loops)
  return { acked: acks.length - before, inFlightAtKill, serverErrors }
}

/** Every acknowledged write is readable with its CID; each repo verifies and matches its index. */
const verifyAfterRestart = async (): Promise<void> => {
  const missing: string[] = []
  for (let i = 0; i < acks.length; i += 25) {
    await Promise.all(
      acks.slice(i, i + 25).map(async (a) => {
        const r = await xget(url, 'com.atproto.repo.getRecord', { repo: a.did, collection: a.collection, rkey: a.rkey })
        if (r.status !== 200) missing.push(`${a.uri}: ${brief(r)}`)
        else if (r.json.cid !== a.cid) missing.push(`${a.uri}: cid ${r.json.cid}, acknowledged ${a.cid}`)
      }),
    )
  }
  expect(missing).toEqual([])

  for (const u of users) {
    const mine = acks.filter((a) => a.did === u.did)
    const { records: verified, rev } = await verifiedRepoRecords(url, plc!.url, u.did)
    const lost = mine.filter((a) => verified.get(`${a.collection}/${a.rkey}`) !== a.cid).map((a) => a.uri)
    expect({ did: u.did, lostFromSignedRepo: lost }).toEqual({ did: u.did, lostFromSignedRepo: [] })

    const listed = await listAll(url, u.did, COLLECTION)
    expect(listed.length).toBeGreaterThanOrEqual(mine.length)
    // the record index and the MST agree exactly (no half-applied commit on either side)
    const indexed = listed.map((r) => [`${COLLECTION}/${r.uri.split('/').pop()}`, r.cid]).sort()
    const inRepo = [...verified.entries()].filter(([k]) => k.startsWith(`${COLLECTION}/`)).sort()
    expect(indexed).toEqual(inRepo)

    const head = await xget(url, 'com.atproto.sync.getLatestCommit', { did: u.did })
    expect(head.status).toBe(200)
    expect(head.json.rev).toBe(rev)
  }

  // and the server takes writes again
  for (const u of users) {
    const r = await xpost(url, 'com.atproto.repo.createRecord', { repo: u.did, collection: COLLECTION, record: { text: 'after restart' } }, u.accessJwt)
    expect(brief(r)).toMatch(/^200 /)
    const [, , did, collection, rkey] = r.json.uri.split('/')
    acks.push({ did, collection, rkey, uri: r.json.uri, cid: r.json.cid })
  }
}

test.each([1, 2])('crash/restart cycle %i: every acknowledged write survives kill -9', async (cycle) => {
  const { acked, inFlightAtKill, serverErrors } = await writeUntilKilled(cycle)
  console.log(`cycle ${cycle}: ${acked} writes acknowledged, ${inFlightAtKill} requests in flight at SIGKILL, ${acks.length} acknowledged in total`)
  expect(serverErrors).toEqual([])
  expect(acked).toBeGreaterThan(0)
  expect(inFlightAtKill).toBeGreaterThan(0)
  await startPds()
  await verifyAfterRestart()
}, TIMEOUT_MS)
