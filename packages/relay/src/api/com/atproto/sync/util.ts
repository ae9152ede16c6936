import type { AccountState } from '../../../../accounts/account-store.ts'
import type { RelayContext } from '../../../../context.ts'
import { InvalidRequestError } from '../../../../errors.ts'

/** `{active, status}` as listRepos / getRepoStatus report it (desynchronized counts as inactive). */
export const repoStatus = (a: AccountState): { active: boolean; status?: string } => {
  if (!a.active) return { active: false, ...(a.status ? { status: a.status } : {}) }
  if (a.desynchronized) return { active: false, status: 'desynchronized' }
  return { active: true }
}

export const findAccount = (ctx: RelayContext, did: string): AccountState => {
  const acc = ctx.accounts.get(did)
  if (!acc) throw new InvalidRequestError(`Could not find repo for DID: ${did}`, 'RepoNotFound')
  return acc
}
