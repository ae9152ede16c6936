import type { com } from '@atsuite/lexicon/com'
import type { LexMap } from '@atproto/lex-data'
import type { Account } from '../../../../account/account-manager.ts'
import { InvalidRequest } from '../../../../errors.ts'
import type { AppContext } from '../../../../context.ts'
import { accountView } from './views.ts'

const PROFILE = 'app.bsky.actor.profile'

/** A hosted account by DID or handle, whatever its status, or 400 AccountNotFound. */
export const findAccount = async (ctx: AppContext, handleOrDid: string): Promise<Account> => {
  const acc = await ctx.accounts.getAccount(handleOrDid)
  if (!acc) throw new InvalidRequest(`Account not found: ${handleOrDid}`, 'AccountNotFound')
  return acc
}

/** The account's profile record, when its repo holds one (what operators' tools show beside an account). */
const relatedRecords = (ctx: AppContext, did: string): LexMap[] => {
  if (!ctx.actorStore.exists(did)) return []
  const profile = ctx.repoReader.getRecord(did, PROFILE, 'self')
  return profile ? [profile.value] : []
}

/** Admin views of accounts, in the order given: invites from the service database, profile from the repo. */
export const loadAccountViews = async (ctx: AppContext, accounts: readonly Account[]): Promise<com.atproto.admin.defs.AccountView[]> => {
  const invites = await ctx.accountAdmin.getInvites(accounts.map((a) => a.did))
  return accounts.flatMap((acc) => accountView(acc, invites.get(acc.did), relatedRecords(ctx, acc.did)) ?? [])
}
