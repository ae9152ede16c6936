import type { Route } from '../../../util.ts'
import { getSuggestions } from './getSuggestions.ts'
import { searchActors } from './searchActors.ts'
import { searchActorsTypeahead } from './searchActorsTypeahead.ts'

/** Finding accounts: search, typeahead, suggestions. */
export const discoveryRoutes: Route[] = [searchActors, searchActorsTypeahead, getSuggestions]
