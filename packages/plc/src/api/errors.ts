import type { ErrorRequestHandler, RequestHandler } from 'express'
import type { Logger } from '@atsuite/common'
import {
  ConflictError,
  DidNotFoundError,
  DidTombstonedError,
  InvalidOperationError,
  InvalidRequestError,
  PlcDirectoryError,
} from '../directory/errors.ts'

export type ErrorBody = { error: string; message: string }

const statusOf = (err: PlcDirectoryError): number => {
  if (err instanceof InvalidOperationError || err instanceof InvalidRequestError) return 400
  if (err instanceof DidNotFoundError) return 404
  if (err instanceof DidTombstonedError) return 410
  if (err instanceof ConflictError) return 409
  return 400
}

// body-parser marks its errors with `type` and an HTTP status.
const BODY_ERRORS: Record<string, ErrorBody & { status: number }> = {
  'entity.parse.failed': { status: 400, error: 'InvalidRequest', message: 'Request body is not valid JSON' },
  'entity.too.large': { status: 413, error: 'PayloadTooLarge', message: 'Request body too large' },
  'encoding.unsupported': { status: 415, error: 'InvalidRequest', message: 'Unsupported content encoding' },
  'charset.unsupported': { status: 415, error: 'InvalidRequest', message: 'Unsupported charset' },
}

/** Maps any error to a status and a `{ error, message }` body; 5xx details stay in the log. */
export const toHttpError = (err: unknown): { status: number; body: ErrorBody } => {
  if (err instanceof PlcDirectoryError) {
    return { status: statusOf(err), body: { error: err.errorName, message: err.message } }
  }
  if (typeof err === 'object' && err !== null) {
    const e = err as { type?: unknown; status?: unknown; expose?: unknown; message?: unknown }
    const known = typeof e.type === 'string' ? BODY_ERRORS[e.type] : undefined
    if (known) return { status: known.status, body: { error: known.error, message: known.message } }
    // other client errors raised by express itself (e.g. a malformed %-escape in the path)
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true) {
      return {
        status: e.status,
        body: { error: 'InvalidRequest', message: typeof e.message === 'string' ? e.message : 'Bad request' },
      }
    }
  }
  return { status: 500, body: { error: 'InternalServerError', message: 'Internal Server Error' } }
}

export const errorHandler = (logger: Logger): ErrorRequestHandler => {
  return (err, req, res, next) => {
    const { status, body } = toHttpError(err)
    if (status >= 500) {
      logger.error({ err, method: req.method, path: req.path }, 'request failed')
    } else {
      logger.debug({ status, error: body.error, path: req.path }, 'request refused')
    }
    if (res.headersSent) return next(err)
    res.status(status).json(body)
  }
}

export const notFound: RequestHandler = (_req, res) => {
  res.status(404).json({ error: 'NotFound', message: 'Not found' })
}
