import { XRPCError, ResponseType } from '@atproto/xrpc-server'
import { DataModelError } from './repo/data-model.ts'

/**
 * Domain errors. Each names the lexicon error it becomes at the XRPC boundary
 * (`toXrpcError`), so domain code never imports the HTTP layer's classes.
 */
export class PdsError extends Error {
  readonly errorName: string
  readonly status: 400 | 401 | 403 | 404 | 409 | 413
  constructor(status: PdsError['status'], errorName: string, message: string) {
    super(message)
    this.status = status
    this.errorName = errorName
  }
}

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

const statusType: Record<PdsError['status'], ResponseType> = {
  400: ResponseType.InvalidRequest,
  401: ResponseType.AuthenticationRequired,
  403: ResponseType.Forbidden,
  404: ResponseType.XRPCNotSupported,
  409: ResponseType.InvalidRequest,
  413: ResponseType.PayloadTooLarge,
}

export const toXrpcError = (err: unknown): XRPCError => {
  if (err instanceof PdsError) {
    return new XRPCError(statusType[err.status], err.message, err.errorName, { cause: err })
  }
  if (err instanceof DataModelError) {
    return new XRPCError(ResponseType.InvalidRequest, err.message, 'InvalidRecord', { cause: err })
  }
  return XRPCError.fromError(err)
}
