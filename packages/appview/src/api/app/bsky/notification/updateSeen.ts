import { app } from '@atsuite/lexicon'
import { toDatetimeString, type DatetimeString } from '@atproto/syntax'
import { updateSeen as storeSeenAt } from '../../../../data/notification.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import type { Route } from '../../../util.ts'

/** A lexicon datetime in the one form notification times are stored in (compared as strings). */
const normalized = (seenAt: string): DatetimeString => {
  try {
    return toDatetimeString(new Date(seenAt))
  } catch {
    throw new InvalidRequestError(`Invalid seenAt: ${seenAt}`)
  }
}

/** Marks the viewer's notifications up to `seenAt` as read. */
export const updateSeen: Route = (server, ctx) => {
  server.add(app.bsky.notification.updateSeen, {
    auth: ctx.auth.required,
    handler: async ({ input, auth }) => {
      await storeSeenAt(ctx.db, auth.credentials.iss, normalized(input.body.seenAt))
    },
  })
}
