import type { Route } from '../../../util.ts'
import { getUnreadCount } from './getUnreadCount.ts'
import { listNotifications } from './listNotifications.ts'
import { updateSeen } from './updateSeen.ts'

/** Notifications and their read state. */
export const notificationRoutes: Route[] = [listNotifications, getUnreadCount, updateSeen]
