import { com } from '@atsuite/lexicon'
import { Secp256k1Keypair } from '@atproto/crypto'
import { json, type Route } from '../../../util.ts'
import { checkEmail, checkHandleForDid, checkPassword, checkServiceHandle } from '../../../../account/handle.ts'
import { AuthError, InvalidRequest } from '../../../../errors.ts'
import { verifyJwt, AuthRequiredError as XrpcAuthRequired } from '@atproto/xrpc-server'
import { SignatureVerifier, jwtSignatureCheck } from '@atsuite/common/signature'
import { isValidDid, type DidString } from '@atproto/syntax'
import { accountLogger } from '../../../../logger.ts'
import { resolveDidDoc, sessionDidDoc } from './session.ts'
import type { AppContext } from '../../../../context.ts'
import type { CommitData } from '@atproto/repo'
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
  const getKey = async (iss: string, forceRefresh: boolean): Promise<string> => {
    const key = await ctx.idResolver.did.resolveAtprotoKey(iss.split('#')[0], forceRefresh).catch(() => undefined)
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

/**
 * The repo (signed by a new key), then `beforeRow` (the PLC registration),
 * then the account row; a failure after the repo removes it again.
 */
const storeAccount = async (
  ctx: AppContext,
  did: string,
  signingKey: Secp256k1Keypair,
  fields: { handle: string; email: string; password: string; inviteCode?: string; deactivated?: boolean },
  beforeRow?: () => Promise<void>,
): Promise<CommitData> => {
  const commit = await ctx.repoWriter.createRepo(did, signingKey)
  try {
    await beforeRow?.()
    await ctx.accounts.createAccount({ did, ...fields })
  } catch (err) {
    await ctx.actorStore.destroy(did).catch(() => undefined)
    if (err instanceof Error && /UNIQUE constraint failed: account\.handle/.test(err.message)) {
      throw new InvalidRequest(`Handle already taken: ${fields.handle}`, 'HandleNotAvailable')
    }
    throw err
  }
  ctx.accounts.setRepoRoot(did, commit.cid.toString(), commit.rev)
  return commit
}

export const createAccount: Route = (server, ctx) => {
  server.add(com.atproto.server.createAccount, {
    rateLimit: ctx.rateLimits.route(['create-account', byAddress]),
    handler: async ({ input: { body }, req }) => {
      if (body.plcOp) {
        throw new InvalidRequest('plcOp is not taken here: create the account with `did`, then import, then submitPlcOperation')
      }
      // an existing identity moving here (or a did:web bringing its own
      // document) proves itself first: a service token its current key signed
      const existingDid = body.did ? await verifyMigrationToken(ctx, body.did, req.headers.authorization) : undefined
      // a moving account may keep a custom-domain handle that points at its DID
      const handle = existingDid
        ? await checkHandleForDid(body.handle, existingDid, ctx.cfg.identity.serviceHandleDomains, ctx.handleResolver)
        : checkServiceHandle(body.handle, ctx.cfg.identity.serviceHandleDomains)
      if (!body.email) throw new InvalidRequest('Email is required', 'InvalidEmail')
      const email = checkEmail(body.email)
      if (!body.password) throw new InvalidRequest('Password is required', 'InvalidPassword')
      checkPassword(body.password)
      if (ctx.cfg.invites.required) {
        if (!body.inviteCode) throw new InvalidRequest('No invite code provided', 'InvalidInviteCode')
        await ctx.accounts.checkInviteCode(body.inviteCode)
      }
      if (await ctx.accounts.isHandleTaken(handle)) {
        throw new InvalidRequest(`Handle already taken: ${handle}`, 'HandleNotAvailable')
      }
      if (await ctx.accounts.isEmailTaken(email)) {
        throw new InvalidRequest('This email address is already in use, please use a different email.')
      }

      const signingKey = await Secp256k1Keypair.create({ exportable: true })
      const fields = { handle, email, password: body.password, inviteCode: ctx.cfg.invites.required ? body.inviteCode : undefined }
      if (existingDid) {
        const did = existingDid
        if (await ctx.accounts.getAccount(did)) throw new InvalidRequest(`an account for ${did} already exists here`, 'AlreadyExists')
        await storeAccount(ctx, did, signingKey, { ...fields, deactivated: true })
        // nothing on the firehose yet: the account goes live at activateAccount
        accountLogger.info({ did, handle }, 'account created for an existing DID (deactivated until activateAccount)')
        const session = await ctx.accounts.createSession(did, null)
        return json({ handle, did, didDoc: await sessionDidDoc(ctx, did), ...session })
      }
      const { did, op } = await ctx.plc.formatCreate({
        signingKeyDid: signingKey.did(),
        handle,
        pdsUrl: ctx.cfg.service.publicUrl,
        recoveryKey: body.recoveryKey,
      })
      const commit = await storeAccount(ctx, did, signingKey, fields, () => ctx.plc.send(did, op))
      ctx.announceAccount(did, handle, commit, { withCommit: true })
      accountLogger.info({ did, handle }, 'account created')
      const session = await ctx.accounts.createSession(did, null)
      return json({ handle, did, didDoc: await resolveDidDoc(ctx, did), ...session })
    },
  })
}
