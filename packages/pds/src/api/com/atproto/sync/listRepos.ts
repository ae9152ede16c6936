import { com } from '@atsuite/lexicon/com'
import { clampLimit } from '@atsuite/common'
import { json, type Route } from '../../../util.ts'

export const listRepos: Route = (server, ctx) => {
  server.add(com.atproto.sync.listRepos, {
    handler: async ({ params: p }) => {
      const limit = clampLimit(p.limit, 500, 1000)
      const rows = await ctx.accounts.listRepos(limit, p.cursor)
      const repos = rows.map((r) => {
        const status = r.takedownRef ? 'takendown' : r.deactivatedAt ? 'deactivated' : undefined
        return { did: r.did, head: r.cid, rev: r.rev, active: status === undefined, status }
      })
      return json({ repos, cursor: rows.length === limit ? rows[rows.length - 1].did : undefined })
    },
  })
}
