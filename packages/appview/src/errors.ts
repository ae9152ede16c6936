import { DomainError, domainToXrpcError } from '@atsuite/common'
import type { XRPCError } from '@atproto/xrpc-server'

/** The app view's errors, each naming its lexicon error (see common DomainError). */
export class InvalidRequestError extends DomainError {
  constructor(message: string, errorName = 'InvalidRequest') {
    super(400, errorName, message)
  }
}

export class AuthRequiredError extends DomainError {
  constructor(message: string, errorName = 'AuthenticationRequired') {
    super(401, errorName, message)
  }
}

export const toXrpcError = (err: unknown): XRPCError => domainToXrpcError(err)
