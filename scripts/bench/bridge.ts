// npm run bench:bridge [-- --instances 500 --followers 10000 --likers 20 --likes 5]
//
// The fediverse bridge's delivery fan-out and inbound rate. A test network
// (PLC, PDS, relay) and the bridge run in this process; the simulated
// fediverse instances run in a child process (bridge-lib/peers.ts) so their
// work is not counted as the bridge's. One bridged account gets `--followers`
// followers spread over `--instances` instances; one post is then delivered:
// once with shared inboxes (one delivery per instance, as Mastodon
// advertises them) and once to every personal inbox. Reported: time from the
// post to the last delivery, bridge CPU per delivery, the queue's peak depth
// and the RSS. Then `--likers` fediverse actors each like `--likes` posts
// (signed Likes): activities/s verified and written as records (mirror
// accounts are created on the first like of each actor, inside the timing).
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { parseArgs } from 'node:util'
import { TestNetwork, freePort } from '@atsuite/dev-env'
import { Bridge, envToConfig } from '@atsuite/bridge'
import { helpAndExit, numFlag } from './lib/flags.ts'
import { nodeBinary } from './lib/process.ts'

const USAGE = 'usage: npm run bench:bridge [-- --instances 500 --followers 10000 --likers 20 --likes 5]'
const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '500' },
    followers: { type: 'string', default: '10000' },
    likers: { type: 'string', default: '20' },
    likes: { type: 'string', default: '5' },
    help: { type: 'boolean' },
  },
})
helpAndExit(values.help, USAGE)
const instances = numFlag(values, 'instances', 1, USAGE)
const followers = numFlag(values, 'followers', instances, USAGE)
const likers = numFlag(values, 'likers', 1, USAGE)
const likes = numFlag(values, 'likes', 1, USAGE)

process.env.LOG_ENABLED ??= 'false'
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`

// the fediverse
const peers = spawn(nodeBinary(), ['scripts/bench/bridge-lib/peers.ts', '--instances', String(instances)], { stdio: ['ignore', 'pipe', 'inherit'] })
const first = await new Promise<string>((resolve) => readline.createInterface({ input: peers.stdout! }).once('line', resolve))
const control = `http://127.0.0.1:${(JSON.parse(first) as { control: number }).control}`
const ports = (await (await fetch(`${control}/ports`)).json()) as number[]
const counts = async () => (await (await fetch(`${control}/counts`)).json()) as { received: number; badDigest: number; inboxes: number; maxPerInbox: number }

// the network and the bridge
const net = await TestNetwork.create({})
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'atsuite-bench-bridge-'))
const cfg = envToConfig({
  BRIDGE_PORT: String(await freePort()),
  BRIDGE_DATA_DIRECTORY: dataDir,
  BRIDGE_REPO_STREAM_URL: net.relay.url.replace(/^http/, 'ws'),
  BRIDGE_PLC_URL: net.plc.url,
  BRIDGE_PDS_URL: net.pds.url,
  BRIDGE_STREAM_START: 'oldest',
  BRIDGE_INSTANCE_RATE_LIMIT: '1000000',
})
const bridge = await Bridge.create(cfg)
await bridge.start()
const alice = await net.createUser('alice')
await alice.agent.follow((await bridge.accounts.bridgeAccount()).did)
const deadline = Date.now() + 30_000
while (!(await bridge.store.enabledUser(alice.did))) {
  if (Date.now() > deadline) throw new Error('bridging never turned on')
  await new Promise((r) => setTimeout(r, 50))
}

// followers spread over the instances (as if each had followed)
const perInstance = Math.ceil(followers / instances)
const rows = []
for (let i = 0; i < followers; i++) {
  const port = ports[i % instances]
  const user = Math.floor(i / instances)
  rows.push({ did: alice.did, actorUri: `http://127.0.0.1:${port}/users/u${user}`, inbox: `http://127.0.0.1:${port}/users/u${user}/inbox`, sharedInbox: `http://127.0.0.1:${port}/inbox`, createdAt: new Date().toISOString() })
}
for (let i = 0; i < rows.length; i += 500) await bridge.db.kysely.insertInto('follower').values(rows.slice(i, i + 500)).execute()

type Run = { label: string; deliveries: number; seconds: number; cpuMsPerDelivery: number; queuePeak: number; queuePeakBytes: number; rssMiB: number; badDigest: number }
/** what the queued tasks take in the database (their JSON) */
const queueBytes = () => Number((bridge.db.sqlite.prepare('SELECT coalesce(sum(length(message)), 0) FROM queue').pluck().get() as number | bigint) ?? 0)
const fanOut = async (label: string, expected: number): Promise<Run> => {
  await fetch(`${control}/reset`)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let queuePeak = 0
  let queuePeakBytes = 0
  let sampledAt = 0
  await alice.agent.post({ text: `fan-out ${label} ${Date.now()}`, createdAt: new Date().toISOString() })
  for (;;) {
    queuePeak = Math.max(queuePeak, bridge.queueDepth())
    if (performance.now() - sampledAt > 250) {
      queuePeakBytes = Math.max(queuePeakBytes, queueBytes())
      sampledAt = performance.now()
    }
    const c = await counts()
    if (c.received >= expected) break
    if (performance.now() - t0 > 600_000) throw new Error(`${label}: ${c.received}/${expected} delivered after 10 minutes`)
    await new Promise((r) => setTimeout(r, 20))
  }
  const seconds = (performance.now() - t0) / 1000
  const used = process.cpuUsage(cpu0)
  const c = await counts()
  return { label, deliveries: c.received, seconds, cpuMsPerDelivery: (used.user + used.system) / 1000 / c.received, queuePeak, queuePeakBytes, rssMiB: process.memoryUsage().rss / 1024 / 1024, badDigest: c.badDigest }
}

const shared = await fanOut('shared inboxes', instances)
await bridge.db.kysely.updateTable('follower').set({ sharedInbox: null }).execute()
const personal = await fanOut('personal inboxes', followers)

const kvRows = async () => Number((await bridge.db.kysely.selectFrom('kv').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)
const afterFanOut = { queue: bridge.queueDepth(), kv: await kvRows() }

// inbound: signed Likes of alice's posts from fediverse actors
const noteIds: string[] = []
for (let i = 0; i < likes; i++) {
  const post = await alice.agent.post({ text: `like me ${i}`, createdAt: new Date().toISOString() })
  noteIds.push(`${cfg.publicUrl}/ap/posts/${encodeURIComponent(alice.did)}/${post.uri.split('/').pop()}`)
}
const inbound = (await (
  await fetch(`${control}/send?inbox=${encodeURIComponent(`${cfg.publicUrl}/ap/inbox`)}&objects=${encodeURIComponent(JSON.stringify(noteIds))}&actors=${likers}&concurrency=8`, { method: 'POST' })
).json()) as { ms: number; sent: number; statuses: Record<string, number> }
// accepted is not done: each Like is verified and written from the queue; wait for the records
const likeRows = async () =>
  Number((await bridge.db.kysely.selectFrom('object_map').select((eb) => eb.fn.countAll<number>().as('n')).where('kind', '=', 'like').executeTakeFirstOrThrow()).n)
const inboundStart = performance.now() - inbound.ms
while ((await likeRows()) < inbound.sent && performance.now() - inboundStart < 600_000) await new Promise((r) => setTimeout(r, 50))
const inboundSeconds = (performance.now() - inboundStart) / 1000
const written = { n: await likeRows() }

console.log(`\nbridge fan-out: 1 post, ${followers} followers on ${instances} instances (${perInstance} per instance)`)
console.log('| delivery | deliveries | time to deliver all | bridge CPU per delivery | queue peak (tasks, bytes) | RSS after |')
console.log('| --- | --- | --- | --- | --- | --- |')
for (const r of [shared, personal]) {
  console.log(`| ${r.label} | ${r.deliveries} | ${r.seconds.toFixed(2)} s (${(r.deliveries / r.seconds).toFixed(0)}/s) | ${r.cpuMsPerDelivery.toFixed(2)} ms | ${r.queuePeak}, ${(r.queuePeakBytes / 1024 / 1024).toFixed(1)} MiB | ${r.rssMiB.toFixed(0)} MiB |`)
}
console.log(`bad Digest headers at the peers: ${shared.badDigest + personal.badDigest}; left in the queue after the fan-outs: ${afterFanOut.queue} tasks; KV entries: ${afterFanOut.kv}`)
console.log(
  `\ninbound: ${inbound.sent} signed Likes (${likers} actors × ${likes} posts): accepted in ${(inbound.ms / 1000).toFixed(2)} s (${(inbound.sent / (inbound.ms / 1000)).toFixed(1)}/s, statuses ${JSON.stringify(inbound.statuses)}); verified and written as ${written.n} like records in ${inboundSeconds.toFixed(2)} s = ${(written.n / inboundSeconds).toFixed(1)} activities/s, ${likers} mirror accounts created on the way; RSS ${mib(process.memoryUsage().rss)}`,
)

await bridge.destroy()
await net.close()
peers.kill('SIGTERM')
fs.rmSync(dataDir, { recursive: true, force: true })
