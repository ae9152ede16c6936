import { app } from '@atsuite/lexicon'
import { lastSeenAt, unreadCount } from '../../../../data/notification.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { json, type Route } from '../../../util.ts'

/** How many of the notifications listNotifications shows are newer than the viewer's last updateSeen. */
export const getUnreadCount: Route = (server, ctx) => {
  server.add(app.bsky.notification.getUnreadCount, {
    auth: ctx.auth.required,
    handler: async ({ params, auth }) => {
      if (params.seenAt !== undefined) throw new InvalidRequestError('The seenAt parameter is unsupported')
      const viewer = auth.credentials.iss
      return json({ count: await unreadCount(ctx.db, viewer, await lastSeenAt(ctx.db, viewer)) })
    },
  })
}
