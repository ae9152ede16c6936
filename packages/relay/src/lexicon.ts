import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { LexiconDoc } from '@atproto/lexicon'

// The official com.atproto lexicons as shipped inside @atproto/api. Only its
// generated schema module is loaded (the whole client costs ~120 MB), and
// only com.atproto.* is kept: the relay serves nothing else.
const apiEntry = createRequire(import.meta.url).resolve('@atproto/api')
const schemaModule = pathToFileURL(path.join(path.dirname(apiEntry), 'client', 'lexicons.js')).href
const { schemas } = (await import(schemaModule)) as { schemas: { id: string }[] }

export const lexiconDocs: LexiconDoc[] = schemas.filter((s) => s.id.startsWith('com.atproto.')) as unknown as LexiconDoc[]
