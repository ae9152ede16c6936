import { Secp256k1Keypair } from '@atproto/crypto'
import type { CommitData } from '@atproto/repo'
import { checkedDid } from '../identity/did.ts'
import type { DidString, HandleString } from '@atproto/syntax'
import { InvalidRequest } from '../errors.ts'
import { accountLogger } from '../logger.ts'
import type { AppContext } from '../context.ts'
import { checkEmail, checkPassword, checkServiceHandle } from './handle.ts'

export type NewAccountInput = { email?: string; password?: string; inviteCode?: string }
export type NewAccountFields = { handle: HandleString; email: string; password: string; inviteCode?: string }

/**
 * What every new account must have, whichever door it comes through
 * (createAccount, the OAuth sign-up page): an email and password that pass,
 * an invite when they are required, a handle and an email nobody has.
 */
export const checkNewAccount = async (ctx: AppContext, handle: HandleString, input: NewAccountInput): Promise<NewAccountFields> => {
  if (!input.email) throw new InvalidRequest('Email is required', 'InvalidEmail')
  const email = checkEmail(input.email)
  if (!input.password) throw new InvalidRequest('Password is required', 'InvalidPassword')
  checkPassword(input.password)
  if (ctx.cfg.invites.required) {
    if (!input.inviteCode) throw new InvalidRequest('No invite code provided', 'InvalidInviteCode')
    await ctx.accounts.checkInviteCode(input.inviteCode)
  }
  if (await ctx.accounts.isHandleTaken(handle)) {
    throw new InvalidRequest(`Handle already taken: ${handle}`, 'HandleNotAvailable')
  }
  if (await ctx.accounts.isEmailTaken(email)) {
    throw new InvalidRequest('This email address is already in use, please use a different email.')
  }
  return { handle, email, password: input.password, inviteCode: ctx.cfg.invites.required ? input.inviteCode : undefined }
}

/**
 * The repo (signed by a new key), then `beforeRow` (the PLC registration),
 * then the account row; a failure after the repo removes it again.
 */
export const storeAccount = async (
  ctx: AppContext,
  did: string,
  signingKey: Secp256k1Keypair,
  fields: NewAccountFields & { deactivated?: boolean },
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

/**
 * A new account with a new did:plc on a handle under the service domains:
 * checked, registered with the PLC directory, stored, announced on the firehose.
 */
export const createHostedAccount = async (
  ctx: AppContext,
  input: NewAccountInput & { handle: string; recoveryKey?: string },
): Promise<{ did: DidString; handle: HandleString }> => {
  const handle = checkServiceHandle(input.handle, ctx.cfg.identity.serviceHandleDomains)
  const fields = await checkNewAccount(ctx, handle, input)
  const signingKey = await Secp256k1Keypair.create({ exportable: true })
  const { did, op } = await ctx.plc.formatCreate({
    signingKeyDid: signingKey.did(),
    handle,
    pdsUrl: ctx.cfg.service.publicUrl,
    recoveryKey: input.recoveryKey,
  })
  const commit = await storeAccount(ctx, did, signingKey, fields, () => ctx.plc.send(did, op))
  ctx.announceAccount(did, handle, commit, { withCommit: true })
  accountLogger.info({ did, handle }, 'account created')
  return { did: checkedDid(did), handle }
}
