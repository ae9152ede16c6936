import { isLexMap, type LexMap } from '@atproto/lex-data'
import { INVALID_HANDLE } from '@atproto/syntax'
import { getPdsEndpoint } from '@atproto/common-web'
import type { AppContext } from '../../../../context.ts'
import type { HostedAccount } from '../../../../account/account-manager.ts'
import { accountStatus } from '../../../../account/account-manager.ts'

/** The account's DID document as the directory serves it, or undefined when it cannot be had. */
export const resolveDidDoc = async (ctx: AppContext, did: string): Promise<LexMap | undefined> => {
  const doc = await ctx.didResolver.resolve(did).catch(() => undefined)
  return isLexMap(doc) ? doc : undefined
}

/**
 * The DID document for a session response, only while it names this server
 * as the account's PDS: clients (AtpAgent) send their calls to the PDS a
 * session's document names, so a migrating account's document, still naming
 * the old host, would send the new host's tokens there.
 */
export const sessionDidDoc = async (ctx: AppContext, did: string): Promise<LexMap | undefined> => {
  const doc = await resolveDidDoc(ctx, did)
  return doc && getPdsEndpoint(doc as never) === ctx.cfg.service.publicUrl ? doc : undefined
}

/** The session view shared by createAccount/createSession/getSession/refreshSession. */
export const sessionView = async (ctx: AppContext, acc: HostedAccount, opts: { withDidDoc?: boolean } = {}) => {
  const status = accountStatus(acc)
  return {
    did: acc.did,
    handle: acc.handle ?? INVALID_HANDLE,
    email: acc.email ?? undefined,
    emailConfirmed: acc.emailConfirmedAt !== null,
    emailAuthFactor: acc.emailAuthFactor === 1,
    didDoc: opts.withDidDoc ? await sessionDidDoc(ctx, acc.did) : undefined,
    active: status === 'active',
    status: status === 'active' ? undefined : status,
  }
}
