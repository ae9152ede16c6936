import type { ComAtprotoSyncRequestCrawl } from '@atproto/api'
import type { Route } from '../../../util.ts'

export const requestCrawl: Route = (server, ctx) => {
  server.method('com.atproto.sync.requestCrawl', {
    handler: async ({ input }) => {
      const body = input?.body as ComAtprotoSyncRequestCrawl.InputSchema
      await ctx.hosts.requestCrawl(body.hostname)
    },
  })
}
