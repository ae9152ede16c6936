import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { TestNetwork } from '@atsuite/dev-env'

test('PDS_CRAWLERS get requestCrawl with our hostname at start', async () => {
  const calls: { path: string; body: unknown }[] = []
  const crawler = http.createServer((req, res) => {
    let data = ''
    req.on('data', (c) => (data += c))
    req.on('end', () => {
      calls.push({ path: req.url ?? '', body: JSON.parse(data || 'null') })
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((r) => crawler.listen(0, '127.0.0.1', r))
  const crawlerUrl = `http://127.0.0.1:${(crawler.address() as AddressInfo).port}`
  const net = await TestNetwork.create({ env: { PDS_CRAWLERS: crawlerUrl } })
  try {
    const start = Date.now()
    while (calls.length === 0 && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 20))
    expect(calls).toEqual([
      { path: '/xrpc/com.atproto.sync.requestCrawl', body: { hostname: `localhost:${net.pds.port}` } },
    ])
  } finally {
    await net.close()
    crawler.close()
  }
})
