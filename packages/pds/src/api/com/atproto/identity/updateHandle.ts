import { com } from '@atsuite/lexicon/com'
import type { Route } from '../../../util.ts'
import { changeHandle } from '../../../../account/change-handle.ts'
import { byAccount } from '../../../../rate-limits.ts'

export const updateHandle: Route = (server, ctx) => {
  server.add(com.atproto.identity.updateHandle, {
    rateLimit: ctx.rateLimits.route(['update-handle', byAccount]),
    auth: ctx.auth.accessPrivileged({ oauth: (p) => p.assertIdentity({ attr: 'handle' }) }),
    handler: async ({ auth, input: { body } }) => {
      await changeHandle(ctx, auth.credentials.did, body.handle)
    },
  })
}
