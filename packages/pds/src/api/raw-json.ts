import express, { type RequestHandler } from 'express'

const JSON_LIMIT = '10mb'
const MAX_JSON_DEPTH = 128

/** Nesting depth, iteratively (a hostile body must not blow the stack). */
const jsonDepth = (root: unknown): number => {
  let max = 0
  const stack: [unknown, number][] = [[root, 1]]
  while (stack.length > 0) {
    const [v, d] = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    if (d > max) max = d
    if (max > MAX_JSON_DEPTH) return max
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1])
  }
  return max
}

/**
 * Keeps the request body exactly as parsed from JSON (`req.rawJson`) before
 * the XRPC layer converts it, so record writes can be checked strictly
 * against the data model. Malformed JSON is a 400 here, never a 500. Only
 * for the methods the PDS serves itself (`isLocal`): a forwarded call's body
 * goes on as the client sent it, unread.
 */
export const rawJson = (isLocal: (nsid: string) => boolean): RequestHandler => {
  // built once: the parser's options (limit, type matcher) are read when it is made
  const parse = express.json({ limit: JSON_LIMIT, strict: false })
  return (req, res, next) => {
    if (req.method !== 'POST' || !req.path.startsWith('/xrpc/') || !req.is('application/json')) return next()
    if (!isLocal(req.path.slice('/xrpc/'.length))) return next()
    parse(req, res, (err?: unknown) => {
      if (err) return next(err)
      if (jsonDepth(req.body) > MAX_JSON_DEPTH) {
        res.status(400).json({ error: 'InvalidRequest', message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` })
        return
      }
      ;(req as typeof req & { rawJson?: unknown }).rawJson = req.body
      next()
    })
  }
}
