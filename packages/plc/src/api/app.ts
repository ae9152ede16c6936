import express, { type Express, type RequestHandler } from 'express'
import type { AppContext } from '../context.ts'
import { errorHandler, notFound } from './errors.ts'
import { createRouter } from './routes.ts'

// Ops are at most 4000 bytes of CBOR; JSON of a legitimate op stays well under this.
const BODY_LIMIT = '32kb'

// Read-only and anonymous like plc.directory, so any origin may call it.
const cors: RequestHandler = (req, res, next) => {
  res.setHeader('access-control-allow-origin', '*')
  if (req.method === 'OPTIONS') {
    res.setHeader('access-control-allow-methods', 'GET, POST, OPTIONS')
    res.setHeader('access-control-allow-headers', 'content-type')
    res.setHeader('access-control-max-age', '86400')
    res.status(204).end()
    return
  }
  next()
}

export const createApp = (ctx: AppContext): Express => {
  const app = express()
  app.disable('x-powered-by')
  app.use(cors)
  // Bodies are JSON whatever the content-type says (curl -d sends form encoding).
  app.use(express.json({ type: () => true, limit: BODY_LIMIT }))
  app.use(createRouter(ctx))
  app.use(notFound)
  app.use(errorHandler(ctx.logger))
  return app
}
