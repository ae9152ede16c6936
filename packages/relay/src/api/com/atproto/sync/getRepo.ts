import type { Request, RequestHandler } from 'express'
import { com } from '@atsuite/lexicon/com'
import type { RelayContext } from '../../../../context.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { findAccount } from './util.ts'

/** The query string, parsed and validated by the lexicon (a LexValidationError, a 400, when it does not conform). */
const parseParams = (req: Request): com.atproto.sync.getRepo.$Params => {
  const q = req.originalUrl.indexOf('?')
  return com.atproto.sync.getRepo.$params.fromURLSearchParams(q === -1 ? '' : req.originalUrl.slice(q + 1))
}

/**
 * com.atproto.sync.getRepo: the relay keeps no repo data, so it redirects
 * (302) to the account's current PDS. Plain express rather than
 * `server.add`: an xrpc-server handler always answers 200 with a body of
 * the lexicon's output (here a CAR), and proxying every repo through the
 * relay is exactly what the redirect avoids. The params are still the
 * lexicon's (typed and validated), and another HTTP method is refused as
 * xrpc-server refuses it for a query. Mounted for every method.
 */
export const getRepo =
  (ctx: RelayContext): RequestHandler =>
  async (req, res, next) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new InvalidRequestError(`Incorrect HTTP method (${req.method}) expected GET`)
      const { did, since } = parseParams(req)
      findAccount(ctx, did)
      const ident = await ctx.identity.resolve(did)
      if (!ident) throw new InvalidRequestError(`Could not resolve DID: ${did}`, 'RepoNotFound')
      const target = new URL('/xrpc/com.atproto.sync.getRepo', ident.pdsEndpoint)
      target.searchParams.set('did', did)
      if (since !== undefined) target.searchParams.set('since', since)
      res.redirect(302, target.toString())
    } catch (err) {
      next(err)
    }
  }
