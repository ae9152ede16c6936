// Two costs @atproto/xrpc-server pays on every request that change nothing in
// what it answers, taken out when a method is registered (ServiceShell does it
// for every `server.add`):
//
// - Parsing a method's params and input with lex-schema's `parse` builds a
//   LexValidationError (a stack trace, issue aggregation, a message) for every
//   optional field the request leaves out: in parse mode an absent optional
//   runs its inner schema on `undefined` to find a default, fails, and the
//   failure is thrown away. createRecord's body pays for three such fields,
//   ~25 µs against ~1 µs for a strict `validate`. `validateFirst` makes the
//   schema try `validate` first. When that succeeds, `parse` would return the
//   very same value: strict validation fails on any value a schema would change
//   (lex-schema checks each level), and parse mode changes nothing else unless
//   a default applies. So it is used only for schemas with no default anywhere
//   in them. Any other input (invalid, or needing coercion) goes through
//   `parse` as before, errors and all.
// - The router checks each auth result against an error-result shape
//   (`{status, error?, message?}`) with lex-schema, and every value that is
//   not one fails it with a thrown-away LexValidationError: a plain object
//   without `status` with two (~14 µs), any other object with one (~10 µs,
//   its stack trace taken in the request's async context). `classyAuth` hands
//   the router the same fields on an `AuthResult`, and `quickAuthResultCheck`
//   makes the check answer "not an error result" for those at once.
import { errorResult } from '@atproto/xrpc-server'
import { l } from '@atproto/lex-schema'

type AnySchema = l.Schema & { type?: string }

/** leaf schema types: no default can hide under them */
const LEAVES = new Set([
  'blob',
  'boolean',
  'bytes',
  'cid',
  'enum',
  'integer',
  'lexMap',
  'lexValue',
  'literal',
  'never',
  'null',
  'regexp',
  'string',
  'token',
  'unknown',
])

/** Whether a default (`withDefault`) may apply anywhere in the schema; any schema kind not known here counts as yes. */
export const mayApplyDefault = (schema: unknown, seen = new Set<unknown>()): boolean => {
  if (seen.has(schema)) return false
  seen.add(schema)
  if (!(schema instanceof l.Schema)) return true
  const s = schema as AnySchema & Record<string, unknown>
  const type = s.type
  if (type === undefined) return true
  if (LEAVES.has(type)) return false
  const children = (values: unknown[]): boolean => values.some((v) => mayApplyDefault(v, seen))
  switch (type) {
    case 'withDefault':
      return true
    case 'object':
    case 'params':
      return children(Object.values(s.shape as Record<string, unknown>))
    case 'optional':
    case 'nullable':
    case 'array':
    case 'ref':
    case 'typedRef':
      return mayApplyDefault(s.validator, seen)
    case 'typedObject':
    case 'record':
      return mayApplyDefault(s.schema, seen)
    case 'union':
    case 'typedUnion':
      return children(s.validators as unknown[])
    case 'discriminatedUnion':
      return children(s.variants as unknown[])
    case 'intersection':
      return children([s.left, s.right])
    case 'dict':
      return children([s.keySchema, s.valueSchema])
    default:
      return true
  }
}

const STRICT = { mode: 'validate' } as const

/**
 * Makes `schema.parse` (and `safeParse`) try a strict validation first, for a
 * schema in which no default can apply; the result is the same either way
 * (see the file's head). Returns whether it did.
 */
export const validateFirst = (schema: l.Schema): boolean => {
  if (Object.hasOwn(schema, 'safeParse') || mayApplyDefault(schema)) return false
  const parse = schema.safeParse.bind(schema)
  Object.defineProperty(schema, 'safeParse', {
    configurable: true,
    value: (input: unknown, options?: Record<string, unknown>) => {
      const strict = l.ValidationContext.validate(input, schema, options ? { ...options, ...STRICT } : STRICT)
      return strict.success ? strict : parse(input, options)
    },
  })
  return true
}

type MethodSchema = { type: string; parameters?: l.Schema; input?: { schema?: l.Schema } }

/** validateFirst for a method's params and input schemas. */
export const validateMethodFirst = (ns: Parameters<typeof l.getMain>[0]): void => {
  const main = l.getMain(ns) as unknown as MethodSchema
  if (main.type !== 'procedure' && main.type !== 'query' && main.type !== 'subscription') return
  if (main.parameters instanceof l.Schema) validateFirst(main.parameters)
  if (main.input?.schema instanceof l.Schema) validateFirst(main.input.schema)
}

/** An auth result's fields on an object the router's error-result check turns down at once. */
class AuthResult {
  constructor(fields: object) {
    Object.assign(this, fields)
  }
}

type AuthFn = (ctx: never) => unknown

/**
 * Wraps an XRPC method config's `auth` so its results reach the router as
 * `AuthResult`s. A result with a `status` is left as it is: the router's
 * check must still see an error result (`{status, error?, message?}`) as one.
 */
export const classyAuth = <C>(config: C): C => {
  if (typeof config !== 'object' || config === null || !('auth' in config) || typeof config.auth !== 'function') return config
  const auth = config.auth as AuthFn
  const wrapped = async (ctx: never) => {
    const out = await auth(ctx)
    return out !== null && typeof out === 'object' && Object.getPrototypeOf(out) === Object.prototype && !('status' in out) ? new AuthResult(out) : out
  }
  return { ...config, auth: wrapped }
}

/** What the error-result check answers for an `AuthResult`; its callers read `success` only. */
const NOT_AN_ERROR_RESULT = Object.freeze({ success: false as const })

/**
 * Makes the router's error-result check (`errorResult.safeParse`, shared by
 * every server in the process) answer at once for an `AuthResult`: it cannot
 * be one (not a plain object). Anything else is checked as before. Returns
 * whether it patched (once per process).
 */
export const quickAuthResultCheck = (): boolean => {
  if (Object.hasOwn(errorResult, 'safeParse')) return false
  const check = errorResult.safeParse.bind(errorResult)
  Object.defineProperty(errorResult, 'safeParse', {
    configurable: true,
    value: (input: unknown, options?: Parameters<typeof check>[1]) => (input instanceof AuthResult ? NOT_AN_ERROR_RESULT : check(input, options)),
  })
  return true
}
