import type { Route } from '../../../util.ts'
import { getActorLikes } from './getActorLikes.ts'
import { getLikes } from './getLikes.ts'
import { getListFeed } from './getListFeed.ts'
import { getQuotes } from './getQuotes.ts'
import { getRepostedBy } from './getRepostedBy.ts'

/** Who liked, reposted or quoted a post; the viewer's likes; a list's feed. */
export const interactionRoutes: Route[] = [getLikes, getRepostedBy, getQuotes, getActorLikes, getListFeed]
