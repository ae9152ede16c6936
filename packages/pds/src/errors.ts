import { XRPCError, ResponseType } from '@atproto/xrpc-server'
import { DomainError, domainToXrpcError } from '@atsuite/common'
import { DataModelError } from './repo/data-model.ts'

/** The PDS's domain errors (see common DomainError: each names its lexicon error). */
export class PdsError extends DomainError {}

export class InvalidRequest extends PdsError {
  constructor(message: string, errorName = 'InvalidRequest') {
    super(400, errorName, message)
  }
}
export class InvalidRecordError extends InvalidRequest {
  constructor(message: string) {
    super(message, 'InvalidRecord')
  }
}
export class InvalidSwapError extends InvalidRequest {
  constructor(message: string) {
    super(message, 'InvalidSwap')
  }
}
export class RecordNotFoundError extends InvalidRequest {
  constructor(message: string) {
    super(message, 'RecordNotFound')
  }
}
export class AuthError extends PdsError {
  constructor(message: string, errorName = 'AuthenticationRequired') {
    super(401, errorName, message)
  }
}
export class ForbiddenErr extends PdsError {
  constructor(message: string, errorName = 'Forbidden') {
    super(403, errorName, message)
  }
}
export class NotFoundErr extends PdsError {
  constructor(message: string, errorName = 'NotFound') {
    super(404, errorName, message)
  }
}

export const toXrpcError = (err: unknown): XRPCError => {
  if (err instanceof DataModelError) {
    return new XRPCError(ResponseType.InvalidRequest, err.message, 'InvalidRecord', { cause: err })
  }
  return domainToXrpcError(err)
}
