import { com } from '@atsuite/lexicon/com'
import { findRepoAccount, json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'

export const getLatestCommit: Route = (server, ctx) => {
  server.add(com.atproto.sync.getLatestCommit, {
    handler: async ({ params: p }) => {
      const acc = await findRepoAccount(ctx, p.did)
      const root = ctx.repoReader.root(acc.did)
      if (!root) throw new InvalidRequest(`Could not find root for DID: ${p.did}`, 'RepoNotFound')
      return json(root)
    },
  })
}
