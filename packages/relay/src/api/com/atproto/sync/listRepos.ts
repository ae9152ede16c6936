import { clampLimit } from '@atsuite/common'
import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { repoStatus } from './util.ts'

export const listRepos: Route = (server, ctx) => {
  server.add(com.atproto.sync.listRepos, {
    handler: async ({ params: p }) => {
      const limit = clampLimit(p.limit, 500, 1000)
      const rows = ctx.accounts.list(limit, p.cursor)
      const repos = rows.flatMap((a) => (a.head !== null && a.rev !== null ? [{ did: a.did, head: a.head, rev: a.rev, ...repoStatus(a) }] : []))
      return json({ repos, cursor: rows.length === limit ? rows[rows.length - 1].did : undefined })
    },
  })
}
