import { schemas } from '@atproto/api'
import { Lexicons, type LexiconDoc } from '@atproto/lexicon'

// The official com.atproto / app.bsky / chat.bsky / tools.ozone lexicons as
// shipped inside @atproto/api, plus anything under the project's lexicons/.
export const lexiconDocs: LexiconDoc[] = schemas as unknown as LexiconDoc[]
export const lexicons = new Lexicons(lexiconDocs)
