// Simulated fediverse instances for `npm run bench:bridge`, in their own
// process so their CPU is not counted as the bridge's: `--instances N`
// loopback HTTP servers, each with a shared inbox and personal inboxes that
// check the Digest header and count what arrives, and actor documents with an
// RSA key (one key for all, to keep start-up short). A control server on
// `--control PORT` answers GET /ports, GET /counts, and POST /send (signed
// Likes from this instance's actors to the bridge, as fast as it accepts them).
import { createHash, createSign, generateKeyPairSync } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { instances: { type: 'string', default: '500' }, control: { type: 'string', default: '0' } } })
const instances = Number(values.instances)
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 })
const publicKeyPem = keys.publicKey.export({ type: 'spki', format: 'pem' })

let received = 0
let badDigest = 0
const byInbox = new Map<string, number>()
const servers: http.Server[] = []
const ports: number[] = []

const digestOf = (body: Buffer): string => `SHA-256=${createHash('sha256').update(body).digest('base64')}`

for (let i = 0; i < instances; i++) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const actor = /^\/users\/([a-z0-9]+)$/.exec(url.pathname)
    if (req.method === 'GET' && actor) {
      const id = `http://127.0.0.1:${(server.address() as AddressInfo).port}/users/${actor[1]}`
      res.setHeader('content-type', 'application/activity+json')
      res.end(
        JSON.stringify({
          '@context': ['https://www.w3.org/ns/activitystreams', 'https://w3id.org/security/v1'],
          id,
          type: 'Person',
          preferredUsername: actor[1],
          inbox: `${id}/inbox`,
          endpoints: { sharedInbox: `http://127.0.0.1:${(server.address() as AddressInfo).port}/inbox` },
          publicKey: { id: `${id}#main-key`, owner: id, publicKeyPem },
        }),
      )
      return
    }
    if (req.method === 'POST') {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        if (req.headers.digest !== digestOf(body)) badDigest++
        received++
        const key = `${(server.address() as AddressInfo).port}${url.pathname}`
        byInbox.set(key, (byInbox.get(key) ?? 0) + 1)
        res.statusCode = 202
        res.end()
      })
      return
    }
    res.statusCode = 404
    res.end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
  ports.push((server.address() as AddressInfo).port)
}

/** Signed Likes of each of `objects` from `actors` actors of the first instance, `concurrency` at a time. */
const sendLikes = async (inbox: string, objects: string[], actors: number, concurrency: number) => {
  const port = ports[0]
  const jobs: { actor: string; n: number; object: string }[] = []
  for (const [n, object] of objects.entries()) for (let a = 0; a < actors; a++) jobs.push({ actor: `http://127.0.0.1:${port}/users/liker${a}`, n, object })
  const statuses = new Map<number, number>()
  const start = performance.now()
  let next = 0
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]
      const body = Buffer.from(
        JSON.stringify({ '@context': 'https://www.w3.org/ns/activitystreams', id: `${job.actor}/likes/${job.n}-${Date.now()}`, type: 'Like', actor: job.actor, object: job.object }),
      )
      const url = new URL(inbox)
      const headers: Record<string, string> = { host: url.host, date: new Date().toUTCString(), digest: digestOf(body), 'content-type': 'application/activity+json' }
      const signer = createSign('RSA-SHA256')
      signer.update(`(request-target): post ${url.pathname}\nhost: ${headers.host}\ndate: ${headers.date}\ndigest: ${headers.digest}`)
      headers.signature = `keyId="${job.actor}#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="${signer.sign(keys.privateKey, 'base64')}"`
      const res = await fetch(inbox, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, body })
      await res.arrayBuffer()
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return { ms: performance.now() - start, sent: jobs.length, statuses: Object.fromEntries(statuses) }
}

const control = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1')
  res.setHeader('content-type', 'application/json')
  if (url.pathname === '/ports') return void res.end(JSON.stringify(ports))
  if (url.pathname === '/counts') {
    const max = Math.max(0, ...byInbox.values())
    return void res.end(JSON.stringify({ received, badDigest, inboxes: byInbox.size, maxPerInbox: max }))
  }
  if (url.pathname === '/reset') {
    received = 0
    badDigest = 0
    byInbox.clear()
    return void res.end('{}')
  }
  if (url.pathname === '/send' && req.method === 'POST') {
    const q = url.searchParams
    sendLikes(q.get('inbox')!, JSON.parse(q.get('objects')!) as string[], Number(q.get('actors')), Number(q.get('concurrency') ?? 8)).then(
      (r) => res.end(JSON.stringify(r)),
      (err: unknown) => {
        res.statusCode = 500
        res.end(JSON.stringify({ error: String(err) }))
      },
    )
    return
  }
  res.statusCode = 404
  res.end('{}')
})
control.listen(Number(values.control), '127.0.0.1', () => {
  console.log(JSON.stringify({ control: (control.address() as AddressInfo).port, instances: ports.length }))
})
process.on('SIGTERM', () => process.exit(0))
