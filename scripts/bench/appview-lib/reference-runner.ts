// The reference app view in its own process: @atproto/dev-env's TestNetwork
// (PLC, PDS, @atproto/bsky with its dataplane, bsync, ozone — all in this
// process, on PostgreSQL), from the benchmark's cache directory
// (ATSUITE_BENCH_APPVIEW_DIR). Forked with IPC by reference.ts.
//
//   --mode visible: one account on its PDS writes posts; bsky's getPosts is
//     polled until each is there (bsky indexes the PDS firehose directly).
//   --mode index --stream <ws url>: bsky subscribes to the benchmark's fake
//     host instead; the orchestrator registers the synthetic accounts in this
//     network's PLC, then asks for the cursor every second.
//
// IPC in:  visible {count, intervalMs} · cursor · size · stop
// IPC out: ready {plcUrl, bskyUrl} · visible {result} · cursor {cursor} · size {bytes}
import { createRequire } from 'node:module'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { postToVisible } from './visible-loop.ts'

const { values: a } = parseArgs({ options: { mode: { type: 'string' }, stream: { type: 'string' }, schema: { type: 'string' } } })
const dir = process.env.ATSUITE_BENCH_APPVIEW_DIR
if (!dir) throw new Error('ATSUITE_BENCH_APPVIEW_DIR is not set')
const req = createRequire(path.join(dir, 'package.json'))
const load = async (name: string): Promise<any> => import(pathToFileURL(req.resolve(name)).href)
const { TestNetwork } = await load('@atproto/dev-env')
const { AtpAgent } = await load('@atproto/api')
const pg = (await load('pg')).default ?? (await load('pg'))

const send = (m: Record<string, unknown>) => process.send!(m)
const schema = a.schema!
const network = await TestNetwork.create({
  dbPostgresSchema: schema,
  dbPostgresUrl: process.env.DB_POSTGRES_URL,
  ...(a.mode === 'index' ? { bsky: { repoProvider: a.stream } } : {}),
})
send({ type: 'ready', plcUrl: network.plc.url, bskyUrl: network.bsky.url })

const visible = async (count: number, intervalMs: number) => {
  const agent = new AtpAgent({ service: network.pds.url })
  await agent.createAccount({ handle: 'writer.test', email: 'writer@example.com', password: 'bench-password-1' })
  await network.processAll()
  const bsky = network.bsky.url
  return postToVisible({
    count,
    warmup: 10,
    intervalMs,
    timeoutMs: 10_000,
    write: async (i) => (await agent.post({ text: `post ${i}: is it visible yet?`, createdAt: new Date().toISOString() })).uri,
    isVisible: async (uri) => {
      const res = await fetch(`${bsky}/xrpc/app.bsky.feed.getPosts?uris=${encodeURIComponent(uri)}`)
      if (!res.ok) throw new Error(`getPosts: ${res.status} ${await res.text()}`)
      return ((await res.json()) as { posts: unknown[] }).posts.length === 1
    },
  })
}

/** Tables and indexes of bsky's schema, in bytes. */
const size = async (): Promise<number> => {
  const client = new pg.Client({ connectionString: process.env.DB_POSTGRES_URL })
  await client.connect()
  try {
    const res = await client.query(
      `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
      [`appview_${schema}`],
    )
    return Number(res.rows[0].bytes)
  } finally {
    await client.end()
  }
}

process.on('message', (raw) => {
  const m = raw as { type: string; count?: number; intervalMs?: number }
  const fail = (err: unknown) => {
    console.error(err)
    process.exit(1)
  }
  if (m.type === 'visible') void visible(m.count!, m.intervalMs!).then((result) => send({ type: 'visible', result }), fail)
  else if (m.type === 'cursor') void Promise.resolve(network.bsky.sub.getCursor()).then((cursor) => send({ type: 'cursor', cursor: cursor ?? 0 }), fail)
  else if (m.type === 'size') void size().then((bytes) => send({ type: 'size', bytes }), fail)
  else if (m.type === 'stop') {
    const timer = setTimeout(() => process.exit(0), 15_000)
    void network.close().finally(() => {
      clearTimeout(timer)
      process.exit(0)
    })
  }
})
