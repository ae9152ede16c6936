import type { Route } from '../../../util.ts'
import { getBlocks } from './getBlocks.ts'
import { getFollowers } from './getFollowers.ts'
import { getFollows } from './getFollows.ts'
import { getList } from './getList.ts'
import { getLists } from './getLists.ts'
import { getMutes } from './getMutes.ts'
import { getRelationships } from './getRelationships.ts'
import { muteActor } from './muteActor.ts'
import { unmuteActor } from './unmuteActor.ts'

/** Follows, blocks, mutes, relationships and lists. */
export const graphRoutes: Route[] = [getFollows, getFollowers, getBlocks, getMutes, muteActor, unmuteActor, getRelationships, getList, getLists]
