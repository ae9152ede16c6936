import { ResponseType, XRPCError } from '@atproto/xrpc-server'

/**
 * Domain errors. Each names the lexicon error it becomes at the XRPC
 * boundary (`toXrpcError`), so domain code never imports the HTTP layer.
 */
export class RelayError extends Error {
  readonly errorName: string
  readonly status: 400 | 401 | 403 | 404
  constructor(status: RelayError['status'], errorName: string, message: string) {
    super(message)
    this.status = status
    this.errorName = errorName
  }
}

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

const statusType: Record<RelayError['status'], ResponseType> = {
  400: ResponseType.InvalidRequest,
  401: ResponseType.AuthenticationRequired,
  403: ResponseType.Forbidden,
  404: ResponseType.XRPCNotSupported,
}

export const toXrpcError = (err: unknown): XRPCError => {
  if (err instanceof RelayError) {
    return new XRPCError(statusType[err.status], err.message, err.errorName, { cause: err })
  }
  return XRPCError.fromError(err)
}
