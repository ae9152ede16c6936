import { ResponseType, XRPCError } from '@atproto/xrpc-server'

export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413

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
}

/** A DomainError as its XRPC error; anything else as xrpc-server would render it (a 500 hides its message). */
export const domainToXrpcError = (err: unknown): XRPCError => {
  if (err instanceof DomainError) {
    return new XRPCError(statusType[err.status], err.message, err.errorName, { cause: err })
  }
  return XRPCError.fromError(err)
}
