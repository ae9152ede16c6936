// Writes `lexicons/` and `lexicons.json` exactly as `lex install` would, from the
// lexicon documents the published @atproto packages ship (no network needed).
//
//   npm run lexicons:sync            rewrite lexicons/ + lexicons.json
//   npm run lexicons:sync -- --check fail if either differs from what it would write
//
// Roots: every com.atproto.* and app.bsky.* lexicon; their dependencies (refs,
// tokens) are installed too, as `lex install` resolves them. Each document is
// parsed with the same schema `lex install` applies to a fetched record, written
// with its writer, and pinned to the CID it computes (`cidForLex`), so
// `lex install --ci` accepts the result offline (a test checks that).
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { lexiconDocumentSchema, type LexiconDocument } from '@atproto/lex-document'
import { cidForLex } from '@atproto/lex-cbor'

const ROOT = path.resolve(import.meta.dirname, '..')
const LEXICON_DIR = path.join(ROOT, 'lexicons')
const MANIFEST = path.join(ROOT, 'lexicons.json')

/** Namespaces whose every lexicon is a root of the manifest. */
const ROOT_PREFIXES = ['com.atproto.', 'app.bsky.']

/** The accounts that publish each namespace's lexicon records (`_lexicon.<authority>` DNS). */
const AUTHORITY_DIDS: Record<string, string> = {
  'com.atproto': 'did:plc:6msi3pj7krzih5qxqtryxlzw',
  'app.bsky': 'did:plc:4v4y5r3lwsbtmsxhile2ljac',
  'chat.bsky': 'did:plc:4v4y5r3lwsbtmsxhile2ljac',
  'tools.ozone': 'did:plc:4v4y5r3lwsbtmsxhile2ljac',
}

/**
 * The published documents, as @atproto/api bundles them in its generated
 * `client/lexicons.js`. Its code generator rewrote every ref to an absolute
 * `lex:<nsid>#<def>`; the published JSON writes `<nsid>#<def>`, and `#<def>`
 * within the same document, which is undone here.
 */
const shippedDocuments = async (): Promise<Map<string, unknown>> => {
  const apiEntry = createRequire(import.meta.url).resolve('@atproto/api')
  const mod = pathToFileURL(path.join(path.dirname(apiEntry), 'client', 'lexicons.js')).href
  const { schemas } = (await import(mod)) as { schemas: { id: string }[] }
  return new Map(schemas.map((s) => [s.id, unbundleRefs(s, s.id)]))
}

const unbundleRef = (ref: string, docId: string): string => {
  if (!ref.startsWith('lex:')) return ref
  const [nsid, frag] = ref.slice(4).split('#')
  if (nsid === docId && frag) return `#${frag}`
  return frag ? `${nsid}#${frag}` : nsid!
}

const unbundleRefs = (v: unknown, docId: string, key?: string): unknown => {
  if (Array.isArray(v)) return v.map((item) => unbundleRefs(item, docId, key))
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, child]) => [k, unbundleRefs(child, docId, k)]))
  }
  if (typeof v === 'string' && (key === 'ref' || key === 'refs')) return unbundleRef(v, docId)
  return v
}

/** NSIDs a document refers to (refs, unions, tokens in knownValues), as lex install follows them. */
const refsOf = (doc: unknown): Set<string> => {
  const out = new Set<string>()
  const walk = (v: unknown, key?: string): void => {
    if (Array.isArray(v)) {
      for (const item of v) walk(item, key)
      return
    }
    if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) walk(child, k)
      return
    }
    if (typeof v !== 'string') return
    if (key === 'ref' || key === 'refs' || (key === 'knownValues' && v.includes('#'))) {
      const nsid = v.split('#')[0]  // '' for a local ref
      if (nsid && nsid.split('.').length >= 3) out.add(nsid)
    }
  }
  walk(doc)
  return out
}

const authorityDid = (nsid: string): string => {
  const ns = nsid.split('.').slice(0, 2).join('.')
  const did = AUTHORITY_DIDS[ns]
  if (!did) throw new Error(`no known lexicon authority for ${nsid}`)
  return did
}

const fileFor = (nsid: string): string => path.join(LEXICON_DIR, ...nsid.split('.')) + '.json'
const jsonText = (v: unknown): string => JSON.stringify(v, null, 2) + '\n'

type Manifest = { version: 1; lexicons: string[]; resolutions: Record<string, { cid: string; uri: string }> }

const readManifest = (): Manifest | null => (fs.existsSync(MANIFEST) ? (JSON.parse(fs.readFileSync(MANIFEST, 'utf8')) as Manifest) : null)

/** Namespaces this script manages; lexicons of any other namespace (the project's own) are left as they are. */
const managed = (nsid: string): boolean => Object.keys(AUTHORITY_DIDS).some((ns) => nsid.startsWith(`${ns}.`))

const plan = async (): Promise<{ files: Map<string, string>; manifest: string }> => {
  const shipped = await shippedDocuments()
  const roots = [...shipped.keys()].filter((id) => ROOT_PREFIXES.some((p) => id.startsWith(p))).sort()
  const installed = new Map<string, LexiconDocument>()
  const queue = [...roots]
  while (queue.length > 0) {
    const nsid = queue.pop()!
    if (installed.has(nsid)) continue
    const raw = shipped.get(nsid)
    if (!raw) {
      // knownValues may name tokens of lexicons nobody ships; lex install would fail on those
      throw new Error(`lexicon ${nsid} is referenced but not shipped by @atproto/api`)
    }
    const doc = lexiconDocumentSchema.parse(raw)
    installed.set(nsid, doc)
    for (const ref of refsOf(doc)) if (!installed.has(ref)) queue.push(ref)
  }
  const files = new Map<string, string>()
  const resolutions: Record<string, { cid: string; uri: string }> = {}
  for (const nsid of [...installed.keys()].sort()) {
    const doc = installed.get(nsid)!
    files.set(fileFor(nsid), jsonText(doc))
    resolutions[nsid] = {
      cid: (await cidForLex(doc)).toString(),
      uri: `at://${authorityDid(nsid)}/com.atproto.lexicon.schema/${nsid}`,
    }
  }
  // keep the project's own lexicons (other namespaces) as they are in the manifest
  const current = readManifest()
  const ownRoots = (current?.lexicons ?? []).filter((id) => !managed(id))
  for (const [id, r] of Object.entries(current?.resolutions ?? {})) if (!managed(id)) resolutions[id] = r
  const sortedResolutions = Object.fromEntries(Object.entries(resolutions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  return { files, manifest: jsonText({ version: 1, lexicons: [...roots, ...ownRoots].sort(), resolutions: sortedResolutions }) }
}

const listJson = (dir: string): string[] =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f))
    : []

const main = async (): Promise<void> => {
  const check = process.argv.includes('--check')
  const { files, manifest } = await plan()
  const nsidOf = (f: string) => path.relative(LEXICON_DIR, f).replace(/\.json$/, '').split(path.sep).join('.')
  const stale = listJson(LEXICON_DIR).filter((f) => !files.has(f) && managed(nsidOf(f)))
  const differing = [...files].filter(([f, text]) => !fs.existsSync(f) || fs.readFileSync(f, 'utf8') !== text).map(([f]) => f)
  const manifestDiffers = !fs.existsSync(MANIFEST) || fs.readFileSync(MANIFEST, 'utf8') !== manifest
  if (check) {
    const problems = [...differing.map((f) => `differs: ${path.relative(ROOT, f)}`), ...stale.map((f) => `not installed: ${path.relative(ROOT, f)}`)]
    if (manifestDiffers) problems.push('differs: lexicons.json')
    if (problems.length > 0) {
      console.error(`lexicons are out of date (run npm run lexicons:sync):\n  ${problems.join('\n  ')}`)
      process.exit(1)
    }
    console.log(`lexicons up to date: ${files.size} documents`)
    return
  }
  for (const f of stale) fs.rmSync(f)
  for (const f of differing) {
    fs.mkdirSync(path.dirname(f), { recursive: true })
    fs.writeFileSync(f, files.get(f)!, { mode: 0o644 })
  }
  fs.writeFileSync(MANIFEST, manifest)
  console.log(`lexicons: ${files.size} documents (${differing.length} written, ${stale.length} removed)`)
}

await main()
