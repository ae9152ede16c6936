/**
 * The lexicons are kept the way `lex install` keeps them, and every service's
 * routes match them: each registered XRPC method has its lexicon in
 * lexicons/ (a query, procedure or subscription), and each method a
 * service's HACKING.md lists under "Methods" is registered — and nothing is
 * registered that the list does not claim.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { install } from '@atproto/lex-installer'
import { TestNetwork } from '@atsuite/dev-env'

const ROOT = path.resolve(import.meta.dirname, '..')

let net: TestNetwork

beforeAll(async () => {
  net = await TestNetwork.create({ appview: true })
})

afterAll(async () => {
  await net?.close()
})

test('lexicons/ and lexicons.json are what `lex install --ci` accepts, offline', async () => {
  const debug = console.debug
  console.debug = () => undefined
  try {
    await install({ ci: true, save: false, update: false, lexicons: path.join(ROOT, 'lexicons'), manifest: path.join(ROOT, 'lexicons.json') })
  } finally {
    console.debug = debug
  }
})

test('lexicons/ is in sync with the documents @atproto/api ships', () => {
  const out = execFileSync(process.execPath, [path.join(ROOT, 'scripts/lexicons-sync.ts'), '--check'], { encoding: 'utf8' })
  expect(out).toMatch(/up to date/)
})

const lexiconType = (nsid: string): string | undefined => {
  const file = path.join(ROOT, 'lexicons', ...nsid.split('.')) + '.json'
  if (!fs.existsSync(file)) return undefined
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { defs?: { main?: { type?: string } } }
  return doc.defs?.main?.type
}

/** NSIDs in backticks in the "## Methods" section of a HACKING.md. */
const claimedMethods = (hacking: string): string[] => {
  const text = fs.readFileSync(path.join(ROOT, hacking), 'utf8')
  const start = text.indexOf('\n## Methods')
  if (start === -1) throw new Error(`${hacking} has no "## Methods" section`)
  const end = text.indexOf('\n## ', start + 1)
  const section = text.slice(start, end === -1 ? undefined : end)
  return [...new Set([...section.matchAll(/`((?:com|app|chat|tools)\.[a-zA-Z]+\.[a-zA-Z]+\.[a-zA-Z]+)`/g)].map((m) => m[1]!))].sort()
}

describe.each([
  ['pds', 'packages/pds/HACKING.md', () => net.pds.registeredMethods()],
  ['relay', 'packages/relay/HACKING.md', () => net.relay.registeredMethods()],
  ['appview', 'packages/appview/HACKING.md', () => net.appview.registeredMethods()],
])('%s', (_name, hacking, registered) => {
  test('every registered method is an XRPC method of lexicons/', () => {
    const methods = registered()
    expect(methods.length).toBeGreaterThan(3)
    const missing = methods.filter((nsid) => !['query', 'procedure', 'subscription'].includes(lexiconType(nsid) ?? ''))
    expect(missing).toEqual([])
  })

  test(`the methods ${hacking} claims are exactly the ones registered`, () => {
    expect(claimedMethods(hacking)).toEqual(registered())
  })
})
