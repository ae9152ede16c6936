import type { Route } from '../../../util.ts'
import { getAuthorFeed } from './getAuthorFeed.ts'
import { getPostThread } from './getPostThread.ts'
import { getPosts } from './getPosts.ts'
import { getTimeline } from './getTimeline.ts'

/** Timelines, author feeds, threads and posts by URI. */
export const feedRoutes: Route[] = [getTimeline, getAuthorFeed, getPostThread, getPosts]
