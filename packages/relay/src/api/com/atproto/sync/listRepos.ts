import type { ComAtprotoSyncListRepos } from '@atproto/api'
import { clampLimit } from '@atsuite/common'
import { json, type Route } from '../../../util.ts'
import { repoStatus } from './util.ts'

export const listRepos: Route = (server, ctx) => {
  server.method('com.atproto.sync.listRepos', {
    handler: async ({ params }) => {
      const p = params as ComAtprotoSyncListRepos.QueryParams
      const limit = clampLimit(p.limit, 500, 1000)
      const rows = ctx.accounts.list(limit, p.cursor)
      const repos = rows
        .filter((a) => a.head !== null && a.rev !== null)
        .map((a) => ({ did: a.did, head: a.head!, rev: a.rev!, ...repoStatus(a) }))
      return json({ repos, cursor: rows.length === limit ? rows[rows.length - 1].did : undefined })
    },
  })
}
