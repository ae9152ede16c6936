import type { Route } from '../../../util.ts'
import { getProfile } from './getProfile.ts'
import { getProfiles } from './getProfiles.ts'

/** Profiles. */
export const actorRoutes: Route[] = [getProfile, getProfiles]
