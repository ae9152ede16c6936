import type { RequestHandler } from 'express'
import type { RelayContext } from '../../../../context.ts'
import { InvalidRequestError } from '../../../../errors.ts'
import { findAccount } from './util.ts'

const DID_RE = /^did:[a-z]+:[a-zA-Z0-9._:%-]{1,2048}$/

/**
 * com.atproto.sync.getRepo: the relay keeps no repo data, so it redirects
 * (302) to the account's current PDS. Plain express rather than an XRPC
 * handler, because the answer is a redirect, not a body.
 */
export const getRepo =
  (ctx: RelayContext): RequestHandler =>
  async (req, res, next) => {
    try {
      const did = typeof req.query.did === 'string' ? req.query.did : ''
      if (!DID_RE.test(did)) throw new InvalidRequestError('did must be a DID')
      findAccount(ctx, did)
      const ident = await ctx.identity.resolve(did)
      if (!ident) throw new InvalidRequestError(`Could not resolve DID: ${did}`, 'RepoNotFound')
      const target = new URL('/xrpc/com.atproto.sync.getRepo', ident.pdsEndpoint)
      target.searchParams.set('did', did)
      if (typeof req.query.since === 'string') target.searchParams.set('since', req.query.since)
      res.redirect(302, target.toString())
    } catch (err) {
      next(err)
    }
  }
