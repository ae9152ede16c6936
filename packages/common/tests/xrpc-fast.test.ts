import { l } from '@atproto/lex-schema'
import { app, com } from '@atsuite/lexicon'
import { errorResult, isErrorResult } from '@atproto/xrpc-server'
import { classyAuth, mayApplyDefault, quickAuthResultCheck, validateFirst } from '../src/xrpc-fast.ts'

// validateFirst is held to lex-schema's own parse: for every XRPC method in the
// generated lexicons (params, input), random requests, valid and not, must give
// the same outcome both ways: the same value, or the same error message.

type Rng = () => number
const rng = (seed: number): Rng => () => {
  seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0
  return ((seed ^ (seed >>> 12)) >>> 0) / 2 ** 32
}
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]

const FORMATTED: Record<string, string[]> = {
  did: ['did:plc:ewvi7nxzyoun6zhxrhs64oiz', 'did:web:example.com', 'not-a-did'],
  handle: ['alice.test', 'bob.example.com', 'no_dots'],
  'at-identifier': ['alice.test', 'did:plc:ewvi7nxzyoun6zhxrhs64oiz', '@alice'],
  nsid: ['app.bsky.feed.post', 'com.example.thing', 'nodots'],
  'at-uri': ['at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3jzfcijpj2z2a', 'at://alice.test', 'https://x'],
  cid: ['bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm', 'bafy-not'],
  datetime: ['2024-01-15T10:30:00.000Z', '2024-01-15', 'yesterday'],
  'record-key': ['self', '3jzfcijpj2z2a', '..', 'a/b'],
  tid: ['3jzfcijpj2z2a', 'self'],
  uri: ['https://example.com/x', 'not a uri'],
  language: ['en', 'pt-BR', '!!'],
}

const scalar = (r: Rng, s: Record<string, unknown>): unknown => {
  const opts = (s.options ?? {}) as Record<string, unknown>
  switch (s.type) {
    case 'string': {
      const format = opts.format as string | undefined
      if (format && FORMATTED[format]) return pick(r, FORMATTED[format])
      const known = opts.knownValues as string[] | undefined
      if (known?.length && r() < 0.6) return pick(r, known)
      return pick(r, ['', 'x', 'hello world', 'é'.repeat(Math.floor(r() * 400))])
    }
    case 'integer':
      return pick(r, [0, 1, 50, 100, 101, -1, 1.5, Number(opts.maximum ?? 1000) + 1])
    case 'boolean':
      return pick(r, [true, false])
    case 'literal':
    case 'token':
      return s.value
    case 'enum':
      return pick(r, s.values as unknown[])
    case 'bytes':
      return new Uint8Array(Math.floor(r() * 4))
    default:
      return pick(r, [null, 'x', 1, {}, []])
  }
}

/** A value for the schema: mostly plausible, sometimes of the wrong kind, fields sometimes missing or extra. */
const gen = (r: Rng, schema: unknown, depth = 0): unknown => {
  if (r() < 0.04) return pick(r, [null, 7, 'str', [], true])
  const s = schema as Record<string, unknown> & l.Schema
  switch ((s as { type?: string }).type) {
    case 'optional':
    case 'nullable':
    case 'withDefault':
      return r() < 0.35 ? undefined : gen(r, s.validator, depth)
    case 'ref':
    case 'typedRef':
      return depth > 5 ? {} : gen(r, s.validator, depth + 1)
    case 'typedObject': {
      const v = gen(r, s.schema, depth) as Record<string, unknown>
      return v && typeof v === 'object' && r() < 0.9 ? { $type: (s as unknown as { $type: string }).$type, ...v } : v
    }
    case 'object':
    case 'params': {
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(s.shape as Record<string, unknown>)) {
        if (r() < 0.1) continue
        const x = gen(r, v, depth + 1)
        if (x !== undefined) out[k] = x
      }
      if (r() < 0.1) out.extra = 'field'
      return out
    }
    case 'array': {
      const n = Math.floor(r() * 3)
      return Array.from({ length: n }, () => gen(r, s.validator, depth + 1))
    }
    case 'union':
    case 'typedUnion': {
      const vs = s.validators as unknown[]
      return vs.length ? gen(r, pick(r, vs), depth + 1) : {}
    }
    case 'unknown':
    case 'lexMap':
    case 'lexValue':
      return pick(r, [{ $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2024-01-15T10:30:00.000Z' }, { a: 1 }, 'x'])
    default:
      return scalar(r, s)
  }
}

type Method = { nsid: string; type: string; parameters?: l.Schema; input?: { schema?: l.Schema } }

const methods = (ns: unknown, out: Method[] = [], seen = new Set<unknown>()): Method[] => {
  if (!ns || typeof ns !== 'object' || seen.has(ns)) return out
  seen.add(ns)
  const m = ns as Partial<Method>
  if ((m.type === 'procedure' || m.type === 'query' || m.type === 'subscription') && typeof m.nsid === 'string') {
    out.push(m as Method)
    return out
  }
  for (const v of Object.values(ns)) methods(v, out, seen)
  return out
}

const ALL = [...new Map(methods({ app, com }).map((m) => [m.nsid, m])).values()]

const outcome = (r: l.ValidationResult<unknown>): unknown => (r.success ? { value: r.value } : { error: r.reason.message })

describe('validateFirst', () => {
  it('finds the methods and tells schemas with defaults from those without', () => {
    expect(ALL.length).toBeGreaterThan(200)
    const listRecords = l.getMain(com.atproto.repo.listRecords)
    expect(mayApplyDefault(listRecords.parameters)).toBe(true) // limit defaults to 50
    expect(mayApplyDefault(l.getMain(com.atproto.repo.createRecord).input.schema)).toBe(false)
    expect(mayApplyDefault(l.object({ a: l.optional(l.ref(() => l.withDefault(l.integer(), 3))) }))).toBe(true)
    // a schema kind it does not know counts as "may apply a default"
    expect(mayApplyDefault({ type: 'mystery' })).toBe(true)
  })

  it('gives what parse gives, for random requests to every method', () => {
    let patched = 0
    let same = 0
    let accepted = 0
    for (const [i, m] of ALL.entries()) {
      for (const schema of [m.parameters, m.input?.schema]) {
        if (!(schema instanceof l.Schema)) continue
        const original = (input: unknown) => l.ValidationContext.validate(input, schema, { mode: 'parse' })
        const copy = Object.create(Object.getPrototypeOf(schema), Object.getOwnPropertyDescriptors(schema)) as l.Schema
        if (!validateFirst(copy)) continue
        patched++
        const r = rng(i * 7919 + 1)
        for (let n = 0; n < 60; n++) {
          const input = gen(r, schema)
          const want = original(input)
          const got = copy.safeParse(input)
          expect({ nsid: m.nsid, n, ...(outcome(got) as object) }).toEqual({ nsid: m.nsid, n, ...(outcome(want) as object) })
          if (want.success) accepted++
          same++
        }
      }
    }
    expect(patched).toBeGreaterThan(150)
    expect(same).toBe(patched * 60)
    // the valid path is exercised too, not only errors
    expect(accepted).toBeGreaterThan(same / 10)
  })

  it('leaves a schema with a default to parse, and patches a schema once', () => {
    const withDefault = l.object({ limit: l.optional(l.withDefault(l.integer(), 50)) })
    expect(validateFirst(withDefault)).toBe(false)
    expect(withDefault.parse({})).toEqual({ limit: 50 })
    const plain = l.object({ a: l.optional(l.string()) })
    expect(validateFirst(plain)).toBe(true)
    expect(validateFirst(plain)).toBe(false)
    const input = { a: 'x' }
    expect(plain.parse(input)).toBe(input)
    expect(() => plain.parse({ a: 1 })).toThrow('Expected string value type (got 1) at $.a')
  })
})

describe('classyAuth', () => {
  it('hands on the same fields on a non-plain object, and leaves other configs alone', async () => {
    const config = { auth: async () => ({ credentials: { did: 'did:plc:x' }, artifacts: 1 }), handler: () => undefined }
    const wrapped = classyAuth(config)
    const out = (await wrapped.auth()) as Record<string, unknown>
    expect(Object.getPrototypeOf(out)).not.toBe(Object.prototype)
    expect({ ...out }).toEqual({ credentials: { did: 'did:plc:x' }, artifacts: 1 })
    expect(wrapped.handler).toBe(config.handler)
    const handlerOnly = () => undefined
    expect(classyAuth(handlerOnly)).toBe(handlerOnly)
    expect(classyAuth({ handler: handlerOnly })).toEqual({ handler: handlerOnly })
  })

  it('leaves an error result plain, so the router still sees it as one', async () => {
    const denied = { status: 401, error: 'AuthRequired', message: 'no' }
    const out = await classyAuth({ auth: async () => denied, handler: () => undefined }).auth()
    expect(out).toBe(denied)
    expect(isErrorResult(out)).toBe(true)
  })

  it("answers the router's error-result check for its results without building an error", async () => {
    quickAuthResultCheck()
    expect(quickAuthResultCheck()).toBe(false)
    const out = await classyAuth({ auth: async () => ({ credentials: { did: 'did:plc:x' } }), handler: () => undefined }).auth()
    const answer = errorResult.safeParse(out)
    expect(answer.success).toBe(false)
    expect('error' in answer).toBe(false)
    expect(isErrorResult(out)).toBe(false)
    // anything else is checked as before: an error result is one, other values fail with their error
    expect(isErrorResult({ status: 403, error: 'Forbidden' })).toBe(true)
    const plain = errorResult.safeParse({ credentials: { did: 'did:plc:x' } })
    expect(plain.success).toBe(false)
    expect(plain).toHaveProperty('issues')
    expect(isErrorResult(new Map())).toBe(false)
  })
})
