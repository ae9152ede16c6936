import type { XRPCError } from '@atproto/xrpc-server'
import { DomainError, domainToXrpcError } from '@atsuite/common'

/** The relay's domain errors (see common DomainError: each names its lexicon error). */
export class RelayError extends DomainError {}

export class InvalidRequestError extends RelayError {
  constructor(message: string, errorName = 'InvalidRequest') {
    super(400, errorName, message)
  }
}

export class AuthRequiredError extends RelayError {
  constructor(message: string) {
    super(401, 'AuthenticationRequired', message)
  }
}

/** Any error as its XRPC error (a 500 hides its message). */
export const toXrpcError = (err: unknown): XRPCError => domainToXrpcError(err)
