import { app } from '@atsuite/lexicon'
import type { DatetimeString, DidString } from '@atproto/syntax'
import type { Page } from '../../../../data/graph.ts'
import { lastSeenAt, notificationsPage } from '../../../../data/notification.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { hydrateNotifications } from '../../../../hydration/notification.ts'
import { createPipeline } from '../../../../pipeline.ts'
import { notificationView, notificationVisible, type NotificationItem } from '../../../../views/notification.ts'
import { clampLimit, fillPage, json, type Route } from '../../../util.ts'

type Params = { viewer: DidString; reasons?: string[]; limit: number; cursor?: string }
type Skeleton = Page<NotificationItem> & { seenAt: DatetimeString | null }

const listNotificationsPipeline = createPipeline(
  async (ctx, p: Params): Promise<Skeleton> => {
    const [page, seenAt] = await Promise.all([
      notificationsPage(ctx.db, p.viewer, { reasons: p.reasons, limit: p.limit, cursor: p.cursor }),
      lastSeenAt(ctx.db, p.viewer),
    ])
    return { ...page, seenAt }
  },
  (ctx, sk: Skeleton, state) => hydrateNotifications(ctx.db, sk.items, state),
  (sk, view) => ({ ...sk, items: sk.items.filter((n) => notificationVisible(view.state, n)) }),
  (sk, view) => ({
    notifications: sk.items.map((n) => notificationView(view, n, sk.seenAt)).filter((v) => v !== undefined),
    ...(sk.cursor ? { cursor: sk.cursor } : {}),
    ...(sk.seenAt ? { seenAt: sk.seenAt } : {}),
  }),
)

/**
 * The viewer's notifications, newest first: likes, reposts, follows, replies,
 * mentions and quotes by active accounts the viewer neither muted nor is
 * blocked with either way; `isRead` against the viewer's last updateSeen.
 */
export const listNotifications: Route = (server, ctx) => {
  server.add(app.bsky.notification.listNotifications, {
    auth: ctx.auth.required,
    handler: async ({ params, auth }) => {
      if (params.seenAt !== undefined) throw new InvalidRequestError('The seenAt parameter is unsupported')
      const viewer = auth.credentials.iss
      const body = await fillPage({
        limit: clampLimit(params.limit, 50, 100),
        cursor: params.cursor,
        fetch: (cursor, limit) => listNotificationsPipeline(ctx, { viewer, reasons: params.reasons, limit, cursor }, { viewer }),
        items: (r) => r.notifications,
      })
      return json(body)
    },
  })
}
