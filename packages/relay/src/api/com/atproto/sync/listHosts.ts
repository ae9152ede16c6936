import { clampLimit } from '@atsuite/common'
import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'

export const listHosts: Route = (server, ctx) => {
  server.add(com.atproto.sync.listHosts, {
    handler: async ({ params: p }) => {
      const limit = clampLimit(p.limit, 200, 1000)
      const hosts = ctx.hosts.list(limit, p.cursor)
      return json({
        hosts: hosts.map((h) => ({ hostname: h.hostname, seq: h.cursor, accountCount: h.accountCount, status: h.status })),
        cursor: hosts.length === limit ? hosts[hosts.length - 1].hostname : undefined,
      })
    },
  })
}
