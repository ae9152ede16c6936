import type { Server } from '@atproto/xrpc-server'
import type { AppContext } from '../context.ts'
import type { DidString } from '@atproto/syntax'
import type { HostedAccount } from '../account/account-manager.ts'
import { InvalidRequest } from '../errors.ts'
import type { AccessAuth } from '../auth/auth-verifier.ts'

export type Route = (server: Server, ctx: AppContext) => void

/** Finds a hosted account by handle or DID, or fails with RepoNotFound. */
export const findRepoAccount = async (
  ctx: AppContext,
  repo: string,
  opts: { allowInactive?: boolean } = {},
): Promise<HostedAccount> => {
  const acc = await ctx.accounts.getAccount(repo)
  if (!acc || !ctx.actorStore.exists(acc.did)) {
    throw new InvalidRequest(`Could not find repo: ${repo}`, 'RepoNotFound')
  }
  if (!opts.allowInactive) {
    if (acc.takedownRef) throw new InvalidRequest(`Repo has been taken down: ${repo}`, 'RepoTakendown')
    if (acc.deactivatedAt) throw new InvalidRequest(`Repo has been deactivated: ${repo}`, 'RepoDeactivated')
  }
  return acc
}

/** The caller may only write to their own repo. */
export const assertOwnRepo = async (ctx: AppContext, auth: AccessAuth, repo: string): Promise<DidString> => {
  const did = auth.credentials.did
  if (repo === did) return did
  const acc = await ctx.accounts.getAccount(repo)
  if (acc?.did === did) return did
  if (!acc) throw new InvalidRequest(`Could not find repo: ${repo}`, 'RepoNotFound')
  throw new InvalidRequest('You may only write to your own repo', 'InvalidRequest')
}

export const json = <T>(body: T) => ({ encoding: 'application/json' as const, body })
