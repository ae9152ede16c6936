// Post→visible through the real path: our PDS (packages/pds), our relay
// (packages/relay) crawling it, and a fresh app view subscribed to the relay,
// each its own process (the PLC directory is the benchmark's). One account
// writes posts with @atproto/api's AtpAgent, sparse (one every
// `intervalMs`), and app.bsky.feed.getPosts is polled back to back until
// the post is there.
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { AtpAgent } from '@atproto/api'
import { childPdsEnv } from '@atsuite/dev-env'
import { OUR_PDS_RUNTIME } from '../lib/servers.ts'
import { freePort, logTail, repoRoot, startRelay, startServer, stop } from '../relay-lib/proc.ts'
import { startAppview } from './indexing.ts'
import { postToVisible, type VisibleResult } from './visible-loop.ts'

const getPostsSees = async (appviewUrl: string, uri: string): Promise<boolean> => {
  const res = await fetch(`${appviewUrl}/xrpc/app.bsky.feed.getPosts?uris=${encodeURIComponent(uri)}`)
  if (!res.ok) throw new Error(`getPosts: ${res.status} ${await res.text()}`)
  const body = (await res.json()) as { posts: unknown[] }
  return body.posts.length === 1
}

export const measureVisible = async (opts: { workDir: string; plcUrl: string; count: number; intervalMs: number; log: (m: string) => void }): Promise<VisibleResult> => {
  const pdsPort = await freePort()
  const pds = await startServer({
    name: 'pds',
    entry: path.join(repoRoot, 'packages/pds/src/bin.ts'),
    nodeArgs: OUR_PDS_RUNTIME.nodeArgs,
    env: {
      ...OUR_PDS_RUNTIME.env,
      ...childPdsEnv({ port: pdsPort, dataDirectory: path.join(opts.workDir, 'visible-pds'), plcUrl: opts.plcUrl }),
    },
    url: `http://127.0.0.1:${pdsPort}`,
    healthPath: '/xrpc/_health',
    logFile: path.join(opts.workDir, 'visible-pds.log'),
  })
  const relay = await startRelay({ workDir: opts.workDir, name: 'visible-relay', plcUrl: opts.plcUrl, adminPassword: 'bench-admin' })
  const av = await startAppview({ workDir: opts.workDir, name: 'visible-appview', plcUrl: opts.plcUrl, streamUrl: relay.url.replace(/^http/, 'ws') })
  try {
    // the relay takes a host live from where it stands: crawl before the account exists
    const crawl = await fetch(`${relay.url}/xrpc/com.atproto.sync.requestCrawl`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hostname: `localhost:${pdsPort}` }),
    })
    if (!crawl.ok) throw new Error(`requestCrawl: ${crawl.status} ${await crawl.text()}`)
    await sleep(500)
    const agent = new AtpAgent({ service: `http://localhost:${pdsPort}` })
    await agent.createAccount({ handle: 'writer.test', email: 'writer@example.com', password: 'bench-password-1' })
    const did = agent.session!.did
    for (let i = 0; ; i++) {
      const res = await fetch(`${av.url}/xrpc/app.bsky.actor.getProfile?actor=${did}`)
      await res.arrayBuffer()
      if (res.ok) break
      if (i > 300) throw new Error(`the app view never saw the new account ${did}\n${logTail(av.logFile)}\n${logTail(relay.logFile)}`)
      await sleep(100)
    }
    opts.log(`  account ${did} visible; writing ${opts.count} posts, one every ${opts.intervalMs} ms`)
    return await postToVisible({
      count: opts.count,
      warmup: 10,
      intervalMs: opts.intervalMs,
      timeoutMs: 10_000,
      write: async (i) => (await agent.post({ text: `post ${i}: is it visible yet?`, createdAt: new Date().toISOString() })).uri,
      isVisible: (uri) => getPostsSees(av.url, uri),
    })
  } finally {
    await Promise.all([stop(av.child), stop(relay.child), stop(pds.child)])
  }
}
