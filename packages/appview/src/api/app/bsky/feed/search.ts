import type { Route } from '../../../util.ts'
import { searchPosts } from './searchPosts.ts'

/** Post search. */
export const searchRoutes: Route[] = [searchPosts]
