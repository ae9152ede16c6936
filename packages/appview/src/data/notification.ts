import { sql } from 'kysely'
import type { DatetimeString, DidString } from '@atproto/syntax'
import type { AppViewDb } from '../db/index.ts'
import type { NotificationItem } from '../views/notification.ts'
import { decodeCursor, encodeCursor, isIdKey, keysetBefore, pageOf } from './cursor.ts'
import type { Page } from './graph.ts'

export type NotificationRow = NotificationItem

const one = sql<number>`1`.as('one')

const REASONS: readonly NotificationRow['reason'][] = ['like', 'repost', 'follow', 'reply', 'mention', 'quote']
const isReason = (r: string): r is NotificationRow['reason'] => REASONS.some((x) => x === r)

/**
 * A recipient's notifications that can be shown at all: the author is active
 * and neither muted by nor blocked either way with the recipient, and the
 * subject (the liked or replied-to post, …) is still indexed. listNotifications
 * and getUnreadCount share it, so the count is what the list shows. Each
 * condition is one index probe per row (notification_recipient_idx drives).
 */
const visibleTo = (db: AppViewDb, viewer: DidString) =>
  db.kysely
    .selectFrom('notification')
    .where('notification.recipient', '=', viewer)
    .where((eb) =>
      eb.and([
        eb.or([
          eb('notification.reasonSubject', 'is', null),
          eb.exists(eb.selectFrom('record').select(one).whereRef('record.uri', '=', 'notification.reasonSubject')),
        ]),
        eb.exists(eb.selectFrom('actor').select(one).whereRef('actor.did', '=', 'notification.author').where('actor.status', 'is', null)),
        eb.not(eb.exists(eb.selectFrom('mute').select(one).where('mute.muter', '=', viewer).whereRef('mute.subject', '=', 'notification.author'))),
        eb.not(eb.exists(eb.selectFrom('block').select(one).where('block.creator', '=', viewer).whereRef('block.subject', '=', 'notification.author'))),
        eb.not(eb.exists(eb.selectFrom('block').select(one).whereRef('block.creator', '=', 'notification.author').where('block.subject', '=', viewer))),
      ]),
    )

type PageOpts = { reasons?: string[]; limit: number; cursor?: string }

/** The query of one page of notifications; null when the reasons asked for match nothing (exported for the query-plan test). */
export const notificationsPageQuery = (db: AppViewDb, viewer: DidString, opts: PageOpts) => {
  const ks = decodeCursor(opts.cursor, isIdKey)
  // reasons this app view never produces (starterpack-joined, verified, …) match nothing
  const reasons = opts.reasons?.filter(isReason)
  if (reasons && reasons.length === 0) return null
  let q = visibleTo(db, viewer).select([
    'notification.id as id',
    'notification.author as author',
    'notification.recordUri as recordUri',
    'notification.reason as reason',
    'notification.reasonSubject as reasonSubject',
    'notification.sortAt as sortAt',
  ])
  if (reasons) q = q.where('notification.reason', 'in', reasons)
  if (ks) q = q.where(keysetBefore('notification.sortAt', 'notification.id', { sortAt: ks.sortAt, key: Number(ks.key) }))
  return q.orderBy('notification.sortAt', 'desc').orderBy('notification.id', 'desc').limit(opts.limit)
}

/** The viewer's notifications, newest first (keyset on sortAt, id), optionally only some reasons. */
export const notificationsPage = async (db: AppViewDb, viewer: DidString, opts: PageOpts): Promise<Page<NotificationRow>> => {
  const q = notificationsPageQuery(db, viewer, opts)
  if (!q) return { items: [] }
  return pageOf(await q.execute(), opts.limit, (r) => encodeCursor(r.sortAt, r.id))
}

/** Notifications newer than `seenAt` (all of them when the viewer never marked any seen). */
export const unreadCount = async (db: AppViewDb, viewer: DidString, seenAt: DatetimeString | null): Promise<number> => {
  let q = visibleTo(db, viewer).select((eb) => eb.fn.countAll<number>().as('count'))
  if (seenAt) q = q.where('notification.sortAt', '>', seenAt)
  const row = await q.executeTakeFirst()
  return Number(row?.count ?? 0)
}

export const lastSeenAt = async (db: AppViewDb, viewer: DidString): Promise<DatetimeString | null> => {
  const row = await db.kysely.selectFrom('notification_seen').select('seenAt').where('did', '=', viewer).executeTakeFirst()
  return row?.seenAt ?? null
}

/** Sets when the viewer last saw their notifications (as the reference: it may move back). */
export const updateSeen = async (db: AppViewDb, viewer: DidString, seenAt: DatetimeString): Promise<void> => {
  await db.kysely
    .insertInto('notification_seen')
    .values({ did: viewer, seenAt })
    .onConflict((oc) => oc.column('did').doUpdateSet({ seenAt }))
    .execute()
}
