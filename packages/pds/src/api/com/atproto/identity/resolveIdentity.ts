import { com } from '@atsuite/lexicon/com'
import { getHandle } from '@atproto/common-web'
import { isLexMap, type LexMap } from '@atproto/lex-data'
import { isValidDid, isValidHandle, normalizeHandle, type DidString, type HandleString } from '@atproto/syntax'
import { json, type Route } from '../../../util.ts'
import { InvalidRequest } from '../../../../errors.ts'
import type { AppContext } from '../../../../context.ts'

const INVALID_HANDLE = 'handle.invalid' as HandleString

/** A DID's document, or DidNotFound / DidDeactivated (a tombstoned did:plc answers 410). */
const didDocument = async (ctx: AppContext, did: string): Promise<LexMap> => {
  let doc: unknown
  try {
    doc = await ctx.didResolver.resolve(did)
  } catch (err) {
    const status = (err as { status?: number }).status
    if (status === 410 || /\b410\b|not available|tombstone/i.test(String((err as Error).message))) {
      throw new InvalidRequest(`${did} has been deactivated`, 'DidDeactivated')
    }
    throw new InvalidRequest(`could not resolve ${did}: ${(err as Error).message}`, 'DidNotFound')
  }
  if (!isLexMap(doc)) throw new InvalidRequest(`no DID document for ${did}`, 'DidNotFound')
  return doc
}

/** The DID a handle names: our accounts for our service domains, DNS / the domain's well-known for the rest. */
const handleDid = async (ctx: AppContext, handle: string): Promise<string | undefined> => {
  if (ctx.cfg.identity.serviceHandleDomains.some((d) => handle.endsWith(d))) {
    const acc = await ctx.accounts.getAccount(handle)
    return acc && !acc.takedownRef ? acc.did : undefined
  }
  const did = await ctx.handleResolver.resolve(handle)
  return isValidDid(did) ? did : undefined
}

/** did, handle (bidirectionally checked, else handle.invalid) and document of a handle or DID. */
const identityInfo = async (ctx: AppContext, identifier: string) => {
  let did: string
  let askedHandle: string | undefined
  if (identifier.startsWith('did:')) {
    did = identifier
  } else {
    askedHandle = normalizeHandle(identifier)
    if (!isValidHandle(askedHandle)) throw new InvalidRequest(`invalid handle: ${identifier}`)
    const found = await handleDid(ctx, askedHandle)
    if (!found) throw new InvalidRequest(`${askedHandle} does not resolve to a DID`, 'HandleNotFound')
    did = found
  }
  const didDoc = await didDocument(ctx, did)
  const docHandle = getHandle(didDoc as never)
  let handle = INVALID_HANDLE
  if (askedHandle) {
    if (docHandle !== askedHandle) {
      throw new InvalidRequest(`${askedHandle} resolves to ${did}, whose DID document names ${docHandle ?? 'no handle'}`, 'HandleNotFound')
    }
    handle = askedHandle as HandleString
  } else if (docHandle && isValidHandle(docHandle) && (await handleDid(ctx, docHandle)) === did) {
    handle = docHandle as HandleString
  }
  return { did: did as DidString, handle, didDoc }
}

export const resolveDid: Route = (server, ctx) => {
  server.add(com.atproto.identity.resolveDid, {
    handler: async ({ params: p }) => json({ didDoc: await didDocument(ctx, p.did) }),
  })
}

export const resolveIdentity: Route = (server, ctx) => {
  server.add(com.atproto.identity.resolveIdentity, {
    handler: async ({ params: p }) => json(await identityInfo(ctx, p.identifier)),
  })
}

/** Resolves afresh (nothing here is cached across requests, so the same as resolveIdentity). */
export const refreshIdentity: Route = (server, ctx) => {
  server.add(com.atproto.identity.refreshIdentity, {
    auth: ctx.auth.accessStandard({ allowDeactivated: true }),
    handler: async ({ input: { body } }) => json(await identityInfo(ctx, body.identifier)),
  })
}
