import { ResponseType, XRPCError } from '@atproto/xrpc-server'
import { l } from '@atproto/lex-schema'
import { bodyParserError } from './http.ts'

export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 429 | 502 | 503

/**
 * Base of each service's domain errors: it names the lexicon error it becomes
 * at the XRPC boundary (`domainToXrpcError`), so domain code never imports
 * the HTTP layer's classes.
 */
export class DomainError extends Error {
  readonly errorName: string
  readonly status: ErrorStatus
  constructor(status: ErrorStatus, errorName: string, message: string) {
    super(message)
    this.status = status
    this.errorName = errorName
  }
}

const statusType: Record<ErrorStatus, ResponseType> = {
  400: ResponseType.InvalidRequest,
  401: ResponseType.AuthenticationRequired,
  403: ResponseType.Forbidden,
  404: ResponseType.XRPCNotSupported,
  409: ResponseType.InvalidRequest,
  413: ResponseType.PayloadTooLarge,
  429: ResponseType.RateLimitExceeded,
  502: ResponseType.UpstreamFailure,
  503: ResponseType.NotEnoughResources,
}

/**
 * A client's mistake that xrpc-server would render as a 500 or name after a
 * library class, as the lexicon names it; else null: lexicon validation
 * outside xrpc-server's own request verifiers, and body-parser failures
 * (which reach us wrapped, as SyntaxError / PayloadTooLargeError).
 */
const clientMistake = (err: unknown): DomainError | null => {
  if (err instanceof l.LexValidationError) return new DomainError(400, 'InvalidRequest', err.message)
  const parsed = bodyParserError(err) ?? (err instanceof Error ? bodyParserError(err.cause) : null)
  if (!parsed) return null
  return parsed.status === 413 ? new DomainError(413, parsed.error, parsed.message) : new DomainError(400, parsed.error, parsed.message)
}

/** A DomainError as its XRPC error; anything else as xrpc-server would render it (a 500 hides its message). */
export const domainToXrpcError = (err: unknown): XRPCError => {
  const e = err instanceof DomainError ? err : (clientMistake(err) ?? err)
  if (e instanceof DomainError) {
    return new XRPCError(statusType[e.status], e.message, e.errorName, { cause: err })
  }
  return XRPCError.fromError(err)
}
