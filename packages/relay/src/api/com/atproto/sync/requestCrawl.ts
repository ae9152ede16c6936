import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'

export const requestCrawl: Route = (server, ctx) => {
  server.add(com.atproto.sync.requestCrawl, {
    handler: async ({ input }) => {
      await ctx.hosts.requestCrawl(input.body.hostname)
    },
  })
}
