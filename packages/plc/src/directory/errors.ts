// Domain errors of the directory. The HTTP layer (api/errors.ts) maps each
// class to a status; `errorName` is the stable, machine-readable part.

export class PlcDirectoryError extends Error {
  readonly errorName: string
  constructor(errorName: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.errorName = errorName
  }
}

/** The submitted operation (or its DID) is not acceptable: 400. */
export class InvalidOperationError extends PlcDirectoryError {}

/** A query parameter is malformed: 400. */
export class InvalidRequestError extends PlcDirectoryError {
  constructor(message: string) {
    super('InvalidRequest', message)
  }
}

/** No operation was ever accepted for this DID: 404. */
export class DidNotFoundError extends PlcDirectoryError {
  constructor(did: string) {
    super('DidNotFound', `DID not registered: ${did}`)
  }
}

/** The DID's current state is a tombstone: 410 for its document and data. */
export class DidTombstonedError extends PlcDirectoryError {
  constructor(did: string) {
    super('DidTombstoned', `DID not available: ${did}`)
  }
}

/**
 * The DID's log changed between validation and commit (another process wrote
 * to the same database file): 409. In one process writes are queued per DID
 * and this cannot happen.
 */
export class ConflictError extends PlcDirectoryError {
  constructor(did: string) {
    super('Conflict', `Operation log of ${did} changed while the operation was being validated; retry`)
  }
}
