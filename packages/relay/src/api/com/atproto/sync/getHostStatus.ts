import { com } from '@atsuite/lexicon/com'
import { InvalidRequestError } from '../../../../errors.ts'
import { json, type Route } from '../../../util.ts'

export const getHostStatus: Route = (server, ctx) => {
  server.add(com.atproto.sync.getHostStatus, {
    handler: async ({ params: p }) => {
      const h = ctx.hosts.status(p.hostname)
      if (!h) throw new InvalidRequestError(`unknown host: ${p.hostname}`, 'HostNotFound')
      return json({ hostname: h.hostname, seq: h.cursor, accountCount: h.accountCount, status: h.status })
    },
  })
}
