import type { AtUriString, DatetimeString, DidString } from '@atproto/syntax'
import type { app } from '@atsuite/lexicon'
import { profileView } from './actor.ts'
import type { HydrationState } from '../hydration/state.ts'
import type { ViewCtx } from './context.ts'

/** One notification as stored: who did what (the record), to what (reasonSubject), when it sorts. */
export type NotificationItem = {
  id: number
  author: DidString
  recordUri: AtUriString
  reason: 'like' | 'repost' | 'follow' | 'reply' | 'mention' | 'quote'
  reasonSubject: AtUriString | null
  sortAt: DatetimeString
}

/**
 * A notification as listNotifications returns it; undefined when its author
 * is hidden or its record is gone. Read = not newer than the viewer's last
 * `updateSeen` (nothing is read before the first one), as getUnreadCount counts.
 */
export const notificationView = (
  ctx: ViewCtx,
  n: NotificationItem,
  seenAt: DatetimeString | null,
): app.bsky.notification.listNotifications.Notification | undefined => {
  const author = profileView(ctx, n.author)
  const rec = ctx.state.records.get(n.recordUri)
  if (!author || !rec) return undefined
  return {
    $type: 'app.bsky.notification.listNotifications#notification',
    uri: n.recordUri,
    cid: rec.cid,
    author,
    reason: n.reason,
    ...(n.reasonSubject ? { reasonSubject: n.reasonSubject } : {}),
    record: rec.record,
    isRead: seenAt !== null && n.sortAt <= seenAt,
    indexedAt: n.sortAt,
    labels: [],
  }
}

/**
 * Whether the viewer is shown a notification: its author is active, not
 * muted, not blocked either way; a reply the viewer hid through their
 * thread's threadgate is not notified.
 */
export const notificationVisible = (state: HydrationState, n: NotificationItem): boolean => {
  if (!state.activeActor(n.author) || state.blockedWith(n.author) || state.muted(n.author)) return false
  if (n.reason !== 'reply') return true
  const root = state.posts.get(n.recordUri)?.record.reply?.root.uri
  if (!root || !root.startsWith(`at://${state.viewer}/`)) return true
  return !(state.threadgates.get(root)?.record.hiddenReplies ?? []).includes(n.recordUri)
}
