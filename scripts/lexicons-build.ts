// Generates the typed lexicon schemas (packages/lexicon/src/generated) from the
// top-level lexicons/ with `lex build`. Run by `npm install` (postinstall) and
// by `npm run lexicons:build`; skips the work when neither the lexicons nor the
// builder changed since the last build.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { build } from '@atproto/lex-builder'

const ROOT = path.resolve(import.meta.dirname, '..')
const LEXICONS = path.join(ROOT, 'lexicons')
const OUT = path.join(ROOT, 'packages/lexicon/src/generated')
const STAMP = path.join(OUT, '.build-stamp')

const options = {
  lexicons: LEXICONS,
  out: OUT,
  clear: true,
  pretty: false,
  lib: '@atproto/lex-schema',
  importExt: '.ts', // Node runs the .ts sources directly
  fileExt: '.ts',
  indexFile: true,
}

const stampOf = (): string => {
  const hash = crypto.createHash('sha256')
  const entry = createRequire(import.meta.url).resolve('@atproto/lex-builder')
  const pkg = path.join(entry.slice(0, entry.lastIndexOf(`${path.sep}dist${path.sep}`)), 'package.json')
  const builderVersion = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version
  hash.update(`${builderVersion}\n${JSON.stringify(options)}\n`)
  const files = fs.readdirSync(LEXICONS, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json')).sort()
  for (const f of files) hash.update(`${f}\n`).update(fs.readFileSync(path.join(LEXICONS, f)))
  return hash.digest('hex')
}

const stamp = stampOf()
if (!process.argv.includes('--force') && fs.existsSync(STAMP) && fs.readFileSync(STAMP, 'utf8') === stamp) {
  console.log('lexicon schemas up to date')
} else {
  const t0 = Date.now()
  await build(options)
  fs.writeFileSync(STAMP, stamp)
  console.log(`lexicon schemas generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
}
