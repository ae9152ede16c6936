import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { Lexicons, type LexiconDoc } from '@atproto/lexicon'

// The official com.atproto / app.bsky / chat.bsky / tools.ozone lexicons as
// shipped inside @atproto/api. Only its generated schema module is loaded:
// importing the whole client would cost ~120 MB of memory for nothing.
const apiEntry = createRequire(import.meta.url).resolve('@atproto/api')
const schemaModule = pathToFileURL(path.join(path.dirname(apiEntry), 'client', 'lexicons.js')).href
const { schemas } = (await import(schemaModule)) as { schemas: unknown[] }

export const lexiconDocs: LexiconDoc[] = schemas as LexiconDoc[]
export const lexicons = new Lexicons(lexiconDocs)
