import type { Route } from '../../util.ts'
import { getProfile } from './actor/getProfile.ts'
import { getProfiles } from './actor/getProfiles.ts'
import { getAuthorFeed } from './feed/getAuthorFeed.ts'
import { getFeed } from './feed/getFeed.ts'
import { getPostThread } from './feed/getPostThread.ts'
import { getTimeline } from './feed/getTimeline.ts'

/**
 * app.bsky reads the PDS answers through the app view with something of its
 * own: the user's writes the app view has not indexed yet (read-after-write),
 * getFeed's token for the feed generator. Registered only when an app view
 * is configured; every other app.bsky method is forwarded untouched
 * (proxy/unknown-method.ts).
 */
export const appViewRoutes: Route[] = [getTimeline, getAuthorFeed, getPostThread, getProfile, getProfiles, getFeed]
