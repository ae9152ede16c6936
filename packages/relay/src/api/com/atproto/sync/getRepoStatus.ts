import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { findAccount, repoStatus } from './util.ts'

export const getRepoStatus: Route = (server, ctx) => {
  server.add(com.atproto.sync.getRepoStatus, {
    handler: async ({ params: p }) => {
      const acc = findAccount(ctx, p.did)
      const status = repoStatus(acc)
      return json({ did: acc.did, ...status, ...(status.active && acc.rev ? { rev: acc.rev } : {}) })
    },
  })
}
