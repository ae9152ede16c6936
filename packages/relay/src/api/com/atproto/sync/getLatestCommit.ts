import { com } from '@atsuite/lexicon/com'
import { InvalidRequestError } from '../../../../errors.ts'
import { json, type Route } from '../../../util.ts'
import { findAccount } from './util.ts'

export const getLatestCommit: Route = (server, ctx) => {
  server.add(com.atproto.sync.getLatestCommit, {
    handler: async ({ params: p }) => {
      const acc = findAccount(ctx, p.did)
      if (!acc.head || !acc.rev) throw new InvalidRequestError(`No commit seen yet for DID: ${p.did}`, 'RepoNotFound')
      if (!acc.active) {
        const name = acc.status === 'takendown' ? 'RepoTakendown' : acc.status === 'suspended' ? 'RepoSuspended' : 'RepoDeactivated'
        throw new InvalidRequestError(`Repo is not active: ${p.did}`, name)
      }
      return json({ cid: acc.head, rev: acc.rev })
    },
  })
}
