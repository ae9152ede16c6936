import type { Route } from '../../../util.ts'
import { getActorFeeds } from './getActorFeeds.ts'
import { getFeed } from './getFeed.ts'
import { getFeedGenerator } from './getFeedGenerator.ts'
import { getFeedGenerators } from './getFeedGenerators.ts'

/** Custom feeds: generator records, and their feeds served through the generator's getFeedSkeleton. */
export const feedGeneratorRoutes: Route[] = [getFeedGenerator, getFeedGenerators, getActorFeeds, getFeed]
