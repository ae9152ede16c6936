import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'

export const describeServer: Route = (server, ctx) => {
  server.add(com.atproto.server.describeServer, {
    handler: async () =>
      json({
        did: ctx.cfg.service.did,
        availableUserDomains: ctx.cfg.identity.serviceHandleDomains,
        inviteCodeRequired: ctx.cfg.invites.required,
        phoneVerificationRequired: false,
        links: ctx.cfg.links,
        contact: ctx.cfg.contactEmail ? { email: ctx.cfg.contactEmail } : {},
      }),
  })
}
