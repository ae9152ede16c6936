import type { AppContext } from '../../../../context.ts'
import type { Account } from '../../../../account/account-manager.ts'
import { accountStatus } from '../../../../account/account-manager.ts'

/** The session view shared by createAccount/createSession/getSession/refreshSession. */
export const sessionView = async (ctx: AppContext, acc: Account, opts: { withDidDoc?: boolean } = {}) => {
  const status = accountStatus(acc)
  let didDoc: unknown
  if (opts.withDidDoc) {
    didDoc = await ctx.idResolver.did.resolve(acc.did).catch(() => undefined)
  }
  return {
    did: acc.did,
    handle: acc.handle ?? 'handle.invalid',
    email: acc.email ?? undefined,
    emailConfirmed: acc.emailConfirmedAt !== null,
    didDoc: didDoc ?? undefined,
    active: status === 'active',
    status: status === 'active' ? undefined : status,
  }
}
