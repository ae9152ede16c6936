import fs from 'node:fs'
import path from 'node:path'
import { Lexicons, type LexiconDoc } from '@atproto/lexicon'

/** The repository's top-level `lexicons/` directory (kept by `npm run lexicons:sync`). */
export const LEXICON_DIR = path.resolve(import.meta.dirname, '../../../lexicons')

const readDocs = (dir: string): LexiconDoc[] =>
  fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as LexiconDoc)

/** Every installed lexicon document, for @atproto/lexicon's validators. */
export const lexiconDocs: LexiconDoc[] = readDocs(LEXICON_DIR)

/** One validator set over all installed lexicons (records, params, outputs). */
export const lexicons = new Lexicons(lexiconDocs)

/** Path of an NSID's document under lexicons/, as `lex install` lays it out. */
export const lexiconPath = (nsid: string): string => path.join(LEXICON_DIR, ...nsid.split('.')) + '.json'
