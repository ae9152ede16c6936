import { XRPCError, ResponseType } from '@atproto/xrpc-server'
import { DomainError, domainToXrpcError } from '@atsuite/common'
import { l } from '@atproto/lex-schema'
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

export class PayloadTooLargeErr extends PdsError {
  constructor(message: string) {
    super(413, 'PayloadTooLarge', message)
  }
}
export class UnavailableErr extends PdsError {
  constructor(message: string, errorName = 'NotEnoughResources') {
    super(503, errorName, message)
  }
}

/** Where record writes carry records: createRecord/putRecord `record`, applyWrites `writes[i].value`. */
const insideRecord = (path: readonly PropertyKey[]): boolean =>
  (path[0] === 'record' && path.length > 1) || (path[0] === 'writes' && path[2] === 'value' && path.length > 3)

/**
 * xrpc-server parses a body against the method's lexicon before the handler
 * runs, and the lexicons only require a record to be a data-model map, so a
 * value inside a record that is not data model (a float) is refused there, as
 * a plain InvalidRequest. It is the record that is invalid, as when the PDS's
 * raw-JSON check finds it: such a failure keeps the name InvalidRecord.
 */
const asRecordError = (err: XRPCError): XRPCError | undefined => {
  const { cause } = err
  if (err.type !== ResponseType.InvalidRequest || err.customErrorName !== undefined) return undefined
  if (!(cause instanceof l.LexValidationError) || !cause.issues.every((issue) => insideRecord(issue.path))) return undefined
  return new XRPCError(ResponseType.InvalidRequest, err.errorMessage, 'InvalidRecord', { cause })
}

export const toXrpcError = (err: unknown): XRPCError => {
  if (err instanceof DataModelError) {
    return new XRPCError(ResponseType.InvalidRequest, err.message, 'InvalidRecord', { cause: err })
  }
  if (err instanceof XRPCError) return asRecordError(err) ?? err
  return domainToXrpcError(err)
}
