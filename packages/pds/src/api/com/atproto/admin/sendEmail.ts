import { com } from '@atsuite/lexicon/com'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { findAccount } from './util.ts'

const DEFAULT_SUBJECT = 'Message via your PDS'

/** Mails `content` to the recipient account's address; `senderDid` and `comment` are for the caller's records. */
export const sendEmail: Route = (server, ctx) => {
  server.add(com.atproto.admin.sendEmail, {
    auth: ctx.auth.admin,
    handler: async ({ input }) => {
      const acc = await findAccount(ctx, input.body.recipientDid)
      if (!acc.email) throw new InvalidRequest('Account does not have an email address')
      await ctx.mailer.send({
        to: acc.email,
        kind: 'admin_email',
        subject: input.body.subject ?? DEFAULT_SUBJECT,
        text: input.body.content,
      })
      return json({ sent: true })
    },
  })
}
