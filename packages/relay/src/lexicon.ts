import { schemas } from '@atproto/api'
import type { LexiconDoc } from '@atproto/lexicon'

// The official com.atproto lexicons as shipped inside @atproto/api.
export const lexiconDocs: LexiconDoc[] = schemas as unknown as LexiconDoc[]
