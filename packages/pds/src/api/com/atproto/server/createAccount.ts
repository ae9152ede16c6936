import { com } from '@atsuite/lexicon'
import { Secp256k1Keypair } from '@atproto/crypto'
import { json, type Route } from '../../../util.ts'
import { checkEmail, checkPassword, checkServiceHandle } from '../../../../account/handle.ts'
import { InvalidRequest } from '../../../../errors.ts'
import { accountLogger } from '../../../../logger.ts'
import { resolveDidDoc } from './session.ts'

export const createAccount: Route = (server, ctx) => {
  server.add(com.atproto.server.createAccount, {
    handler: async ({ input: { body } }) => {
      if (body.did || body.plcOp) {
        throw new InvalidRequest('Creating an account for an existing DID (migration) is not supported by this server yet')
      }
      const handle = checkServiceHandle(body.handle, ctx.cfg.identity.serviceHandleDomains)
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
      const { did, op } = await ctx.plc.formatCreate({
        signingKeyDid: signingKey.did(),
        handle,
        pdsUrl: ctx.cfg.service.publicUrl,
        recoveryKey: body.recoveryKey,
      })
      const commit = await ctx.repoWriter.createRepo(did, signingKey)
      try {
        await ctx.plc.send(did, op)
        await ctx.accounts.createAccount({
          did,
          handle,
          email,
          password: body.password,
          inviteCode: ctx.cfg.invites.required ? body.inviteCode : undefined,
        })
      } catch (err) {
        await ctx.actorStore.destroy(did).catch(() => undefined)
        if (err instanceof Error && /UNIQUE constraint failed: account\.handle/.test(err.message)) {
          throw new InvalidRequest(`Handle already taken: ${handle}`, 'HandleNotAvailable')
        }
        throw err
      }
      ctx.accounts.setRepoRoot(did, commit.cid.toString(), commit.rev)
      ctx.announceAccount(did, handle, commit, { withCommit: true })
      accountLogger.info({ did, handle }, 'account created')
      const session = await ctx.accounts.createSession(did, null)
      return json({ handle, did, didDoc: await resolveDidDoc(ctx, did), ...session })
    },
  })
}
