import { com } from '@atsuite/lexicon/com'
import { Secp256k1Keypair } from '@atproto/crypto'
import { json, type Route } from '../../../util.ts'
import { checkHandleForDid } from '../../../../account/handle.ts'
import { checkNewAccount, createHostedAccount, storeAccount } from '../../../../account/create-account.ts'
import { AuthError, InvalidRequest } from '../../../../errors.ts'
import { verifyJwt, AuthRequiredError as XrpcAuthRequired } from '@atproto/xrpc-server'
import { SignatureVerifier, jwtSignatureCheck } from '@atsuite/common/signature'
import { isValidDid, type DidString } from '@atproto/syntax'
import { accountLogger } from '../../../../logger.ts'
import { resolveDidDoc, sessionDidDoc } from './session.ts'
import type { AppContext } from '../../../../context.ts'
import { byAddress } from '../../../../rate-limits.ts'

/**
 * createAccount with `did`: the caller holds a service token from the DID's
 * current host (getServiceAuth there: aud = this server's DID, lxm =
 * createAccount), signed by the key its DID document names.
 */
const checkSignature = jwtSignatureCheck(new SignatureVerifier())

const verifyMigrationToken = async (ctx: AppContext, did: string, header: string | undefined): Promise<DidString> => {
  if (!isValidDid(did) || !(did.startsWith('did:plc:') || did.startsWith('did:web:'))) {
    throw new InvalidRequest(`not a did:plc or did:web: ${did}`)
  }
  const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined
  if (!token) {
    throw new AuthError(
      `creating an account for ${did} needs a service token from its current host (getServiceAuth with aud=${ctx.cfg.service.did}, lxm=com.atproto.server.createAccount)`,
      'AuthMissing',
    )
  }
  // no cache to refresh: verifyJwt's forceRefresh retry asks again
  const getKey = async (iss: string): Promise<string> => {
    const key = await ctx.didResolver.resolveAtprotoKey(iss.split('#')[0]).catch(() => undefined)
    if (!key) throw new InvalidRequest(`could not resolve ${iss}'s DID document`, 'UnresolvableDid')
    return key
  }
  let payload
  try {
    payload = await verifyJwt(token, ctx.cfg.service.did, 'com.atproto.server.createAccount', getKey, checkSignature)
  } catch (err) {
    if (err instanceof XrpcAuthRequired) throw new AuthError(`service token refused: ${err.message}`, err.customErrorName ?? 'BadJwt')
    throw err
  }
  if (payload.iss.split('#')[0] !== did) throw new AuthError(`the service token was issued by ${payload.iss}, not ${did}`, 'BadJwtIssuer')
  return did
}

export const createAccount: Route = (server, ctx) => {
  server.add(com.atproto.server.createAccount, {
    rateLimit: ctx.rateLimits.route(['create-account', byAddress]),
    handler: async ({ input: { body }, req }) => {
      if (body.plcOp) {
        throw new InvalidRequest('plcOp is not taken here: create the account with `did`, then import, then submitPlcOperation')
      }
      if (!body.did) {
        const { did, handle } = await createHostedAccount(ctx, body)
        const session = await ctx.accounts.createSession(did, null)
        return json({ handle, did, didDoc: await resolveDidDoc(ctx, did), ...session })
      }
      // an existing identity moving here (or a did:web bringing its own
      // document) proves itself first: a service token its current key signed
      const did = await verifyMigrationToken(ctx, body.did, req.headers.authorization)
      // a moving account may keep a custom-domain handle that points at its DID
      const handle = await checkHandleForDid(body.handle, did, ctx.cfg.identity.serviceHandleDomains, ctx.handleResolver)
      const fields = await checkNewAccount(ctx, handle, body)
      const signingKey = await Secp256k1Keypair.create({ exportable: true })
      if (await ctx.accounts.getAccount(did)) throw new InvalidRequest(`an account for ${did} already exists here`, 'AlreadyExists')
      await storeAccount(ctx, did, signingKey, { ...fields, deactivated: true })
      // nothing on the firehose yet: the account goes live at activateAccount
      accountLogger.info({ did, handle }, 'account created for an existing DID (deactivated until activateAccount)')
      const session = await ctx.accounts.createSession(did, null)
      return json({ handle, did, didDoc: await sessionDidDoc(ctx, did), ...session })
    },
  })
}
