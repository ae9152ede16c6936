import express, { type Request, type Response, type NextFunction, type Router } from 'express'
import type { AppContext } from '../context.ts'
import { MAX_EXPORT_COUNT } from '../directory/directory.ts'
import { InvalidRequestError } from '../directory/errors.ts'

type Handler = (req: Request, res: Response) => Promise<void>

// Express 4 does not catch rejected promises; route them to the error handler.
const handle =
  (fn: Handler) =>
  (req: Request, res: Response, next: NextFunction): void => {
    fn(req, res).catch(next)
  }

const didParam = (req: Request): string => String(req.params.did)

const queryString = (req: Request, name: string): string | undefined => {
  const v = req.query[name]
  if (v === undefined || v === '') return undefined
  if (typeof v !== 'string') throw new InvalidRequestError(`${name} must be given once`)
  return v
}

const parseCount = (raw: string | undefined): number => {
  if (raw === undefined) return MAX_EXPORT_COUNT
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) throw new InvalidRequestError('count must be a positive integer')
  return Math.min(n, MAX_EXPORT_COUNT)
}

const parseAfter = (raw: string | undefined): Date | undefined => {
  if (raw === undefined) return undefined
  const d = new Date(raw)
  if (Number.isNaN(d.getTime())) throw new InvalidRequestError('after must be an ISO 8601 datetime')
  return d
}

/** The plc.directory HTTP API. Handlers only translate between HTTP and PlcDirectory. */
export const createRouter = (ctx: AppContext): Router => {
  const router = express.Router()
  const { directory } = ctx

  router.get(
    '/_health',
    handle(async (_req, res) => {
      try {
        await directory.healthCheck()
      } catch (err) {
        ctx.logger.error({ err }, 'health check failed')
        res.status(503).json({ version: ctx.version, error: 'Service Unavailable' })
        return
      }
      res.json({ version: ctx.version })
    }),
  )

  // jsonlines, oldest first; page with after=<createdAt of the last line>
  router.get(
    '/export',
    handle(async (req, res) => {
      const count = parseCount(queryString(req, 'count'))
      const after = parseAfter(queryString(req, 'after'))
      const ops = await directory.exportOps(after, count)
      res.setHeader('content-type', 'application/jsonlines')
      res.status(200).send(ops.map((op) => JSON.stringify(op)).join('\n'))
    }),
  )

  router.get(
    '/:did',
    handle(async (req, res) => {
      const doc = await directory.document(didParam(req))
      res.type('application/did+ld+json').send(JSON.stringify(doc))
    }),
  )

  router.get(
    '/:did/data',
    handle(async (req, res) => {
      res.json(await directory.documentData(didParam(req)))
    }),
  )

  router.get(
    '/:did/log',
    handle(async (req, res) => {
      res.json(await directory.operationLog(didParam(req)))
    }),
  )

  router.get(
    '/:did/log/audit',
    handle(async (req, res) => {
      res.json(await directory.auditLog(didParam(req)))
    }),
  )

  router.get(
    '/:did/log/last',
    handle(async (req, res) => {
      res.json(await directory.lastOperation(didParam(req)))
    }),
  )

  router.post(
    '/:did',
    handle(async (req, res) => {
      await directory.submit(didParam(req), req.body)
      res.sendStatus(200)
    }),
  )

  return router
}
