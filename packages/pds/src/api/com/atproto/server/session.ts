import { isLexMap, type LexMap } from '@atproto/lex-data'
import { INVALID_HANDLE } from '@atproto/syntax'
import type { AppContext } from '../../../../context.ts'
import type { HostedAccount } from '../../../../account/account-manager.ts'
import { accountStatus } from '../../../../account/account-manager.ts'

/** The account's DID document as the directory serves it, or undefined when it cannot be had. */
export const resolveDidDoc = async (ctx: AppContext, did: string, forceRefresh = false): Promise<LexMap | undefined> => {
  const doc = await ctx.idResolver.did.resolve(did, forceRefresh).catch(() => undefined)
  return isLexMap(doc) ? doc : undefined
}

/** The session view shared by createAccount/createSession/getSession/refreshSession. */
export const sessionView = async (ctx: AppContext, acc: HostedAccount, opts: { withDidDoc?: boolean } = {}) => {
  const status = accountStatus(acc)
  return {
    did: acc.did,
    handle: acc.handle ?? INVALID_HANDLE,
    email: acc.email ?? undefined,
    emailConfirmed: acc.emailConfirmedAt !== null,
    didDoc: opts.withDidDoc ? await resolveDidDoc(ctx, acc.did) : undefined,
    active: status === 'active',
    status: status === 'active' ? undefined : status,
  }
}
