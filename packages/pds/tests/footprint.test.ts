import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { AtpAgent } from '@atproto/api'
import { ChildService, NODE_BIN, REPO_ROOT, childPdsEnv, freePort } from '@atsuite/dev-env'
import { SELF_CHECKPOINT_PAGES } from '@atsuite/common'
import { PlcServer } from '@atsuite/plc'

// What the PDS process loads is part of its memory: Node's bundled undici
// (its fetch, WebSocket and MessageEvent) costs ~13 MiB of RSS, and a PDS
// has no use for it. It comes in through any global fetch, or through an ESM
// `import` of node:http (whose namespace reads the lazy WebSocket export).
// The real binary runs here in a process of its own, watched by a preload
// (fixtures/undici-watch.ts), through sign-up, sign-in, writes, a blob and reads.
//
// Nor does it run a thread of its own by default (a Node worker is ~20 MiB of
// RSS): the account stores' and the firehose log's writers copy their
// write-ahead logs back themselves, so no log grows past its bound.

const WATCH = path.join(REPO_ROOT, 'packages/pds/tests/fixtures/undici-watch.ts')

let dir: string
let plc: PlcServer

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pds-footprint-'))
  plc = await PlcServer.create({ port: 0, host: '127.0.0.1', dbLocation: path.join(dir, 'plc.sqlite') })
  await plc.start()
})

afterAll(async () => {
  await plc.destroy()
  fs.rmSync(dir, { recursive: true, force: true })
})

const watchLines = (file: string): string[] => fs.readFileSync(file, 'utf8').trim().split('\n')

test('the watch sees undici load (a process that calls fetch)', async () => {
  const file = path.join(dir, 'control.txt')
  await promisify(execFile)(NODE_BIN, ['--input-type=module', '-e', "await fetch('http://127.0.0.1:9').catch(() => {}); await new Promise((r) => setTimeout(r, 100))"], {
    env: { PATH: process.env.PATH, NODE_OPTIONS: `--import ${WATCH}`, UNDICI_WATCH_FILE: file },
  })
  const lines = watchLines(file)
  expect(lines[0]).toMatch(/^watching \d+$/)
  expect(lines.some((l) => l.startsWith('undici loaded'))).toBe(true)
})

test('the PDS serves accounts, writes, blobs and reads without loading undici', async () => {
  const file = path.join(dir, 'pds.txt')
  const port = await freePort()
  const url = `http://localhost:${port}`
  const pds = new ChildService(
    'packages/pds/src/bin.ts',
    () => ({
      NODE_OPTIONS: `--import ${WATCH}`,
      UNDICI_WATCH_FILE: file,
      ...childPdsEnv({ port, dataDirectory: path.join(dir, 'pds'), plcUrl: plc.url }),
    }),
    () => `${url}/xrpc/_health`,
  )
  await pds.start()
  try {
    const agent = new AtpAgent({ service: url })
    await agent.createAccount({ handle: 'lean.test', email: 'lean@example.com', password: 'password-123' })
    const did = agent.session!.did
    // sign-in resolves the account's DID document from the PLC directory
    const signedIn = new AtpAgent({ service: url })
    await signedIn.login({ identifier: 'lean.test', password: 'password-123' })
    const blob = await signedIn.uploadBlob(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]), { encoding: 'image/png' })
    await signedIn.upsertProfile((p) => ({ ...p, displayName: 'Lean', avatar: blob.data.blob }))
    const post = await signedIn.post({ text: 'no undici here', createdAt: new Date().toISOString() })
    const got = await signedIn.com.atproto.repo.getRecord({ repo: did, collection: 'app.bsky.feed.post', rkey: post.uri.split('/').pop()! })
    expect(got.data.value).toMatchObject({ text: 'no undici here' })
    const repo = await signedIn.com.atproto.sync.getRepo({ did })
    expect(repo.data.byteLength).toBeGreaterThan(0)
    await signedIn.com.atproto.server.refreshSession(undefined, { headers: { authorization: `Bearer ${signedIn.session!.refreshJwt}` } })

    // ~24 MB into one store and the firehose log, 40 records of 20 kB a commit
    const text = 'x'.repeat(20_000)
    for (let call = 0; call < 30; call++) {
      const writes = Array.from({ length: 40 }, (_, j) => ({
        $type: 'com.atproto.repo.applyWrites#create' as const,
        collection: 'com.example.filler',
        value: { $type: 'com.example.filler', text, n: call * 40 + j },
      }))
      await signedIn.com.atproto.repo.applyWrites({ repo: did, writes })
    }
    const files = fs.readdirSync(path.join(dir, 'pds'), { recursive: true, withFileTypes: true }).filter((f) => f.isFile())
    const sizes = new Map(files.map((f) => [path.join(f.parentPath, f.name), fs.statSync(path.join(f.parentPath, f.name)).size]))
    const logs = [...sizes].filter(([name]) => name.endsWith('-wal'))
    // both got past their bound (SELF_CHECKPOINT_PAGES): their files hold most of what was written, and
    // their logs restarted, never longer than the bound and the commit that crossed it (≤ 2 MB of blocks)
    const filled = [...sizes].filter(([name, size]) => name.endsWith('.sqlite') && size > 12_000_000)
    expect(filled.length).toBeGreaterThanOrEqual(2)
    for (const [name, size] of logs) expect({ name, pages: Math.ceil(size / (4_096 + 24)) <= SELF_CHECKPOINT_PAGES + 1_000 }).toEqual({ name, pages: true })
    const threads = fs.readdirSync(`/proc/${pds.pid}/task`).map((t) => fs.readFileSync(`/proc/${pds.pid}/task/${t}/comm`, 'utf8').trim())
    expect(threads).toContain('MainThread')
    expect(threads).not.toContain('WorkerThread')

    // the watch polls every 10 ms
    await new Promise((r) => setTimeout(r, 100))
  } finally {
    await pds.kill()
  }
  const lines = watchLines(file)
  expect(lines.filter((l) => l.startsWith('watching'))).not.toHaveLength(0)
  expect(lines.filter((l) => l.startsWith('undici'))).toEqual([])
})
