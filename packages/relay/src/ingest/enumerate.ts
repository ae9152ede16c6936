import type { AccountStore } from '../accounts/account-store.ts'
import type { CollectionIndex } from '../accounts/collection-index.ts'
import type { IdentityCache } from '../identity/identity-cache.ts'
import { ingestLogger as log } from '../logger.ts'
import { isDid, isNsid } from '../util.ts'
import { isTid } from '../validate/tid.ts'
import { httpBase, sameHost } from './hostname.ts'

const PAGE = 1000
const PAGES_MAX = 100_000
const RESOLVE_CONCURRENCY = 8
const FETCH_TIMEOUT_MS = 30_000

export type EnumerateResult = {
  /** repos the host listed */
  listed: number
  /** accounts the relay did not know and now does (head, rev, active/status from the listing) */
  adopted: number
  /** listed repos whose DID does not name this host, or that do not resolve */
  refused: number
}

type ListedRepo = { did?: unknown; head?: unknown; rev?: unknown; active?: unknown; status?: unknown }

/**
 * Takes the accounts a newly crawled host already has from its
 * `com.atproto.sync.listRepos` (all pages), so `listRepos` and
 * `getRepoStatus` on the relay are complete before each account's next
 * write. Only accounts whose DID document names this host are adopted (a
 * host cannot claim other hosts' accounts); accounts the relay already
 * knows (from the stream meanwhile) are left as they are. An adopted account
 * is marked `listed` until its first event on the stream, which is accepted
 * like a first-seen account's: the listing and the live stream race, and a
 * commit the listing already counted must still be relayed.
 */
export const enumerateHost = async (
  hostname: string,
  deps: { accounts: AccountStore; collections: CollectionIndex; identity: IdentityCache; allowInsecureHosts: boolean; stopped: () => boolean },
): Promise<EnumerateResult> => {
  const result: EnumerateResult = { listed: 0, adopted: 0, refused: 0 }
  let cursor: string | undefined
  for (let page = 0; page < PAGES_MAX && !deps.stopped(); page++) {
    const params: Record<string, string> = { limit: String(PAGE), ...(cursor ? { cursor } : {}) }
    const body = (await hostQuery(hostname, deps.allowInsecureHosts, 'com.atproto.sync.listRepos', params)) as { repos?: unknown; cursor?: unknown }
    const repos = Array.isArray(body.repos) ? (body.repos as ListedRepo[]) : []
    result.listed += repos.length
    for (let i = 0; i < repos.length; i += RESOLVE_CONCURRENCY) {
      await Promise.all(repos.slice(i, i + RESOLVE_CONCURRENCY).map((r) => adopt(hostname, r, deps, result)))
    }
    if (typeof body.cursor !== 'string' || body.cursor === '' || body.cursor === cursor || repos.length === 0) break
    cursor = body.cursor
  }
  return result
}

/** A query to the host, its JSON answer; throws on a failure or a non-2xx. */
const hostQuery = async (hostname: string, allowInsecure: boolean, nsid: string, params: Record<string, string>): Promise<unknown> => {
  const url = new URL(`${httpBase(hostname, allowInsecure)}/xrpc/${nsid}`)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error' })
  if (!res.ok) {
    await res.body?.cancel()
    throw new Error(`${nsid} answered ${res.status}`)
  }
  return res.json()
}

const adopt = async (
  hostname: string,
  r: ListedRepo,
  deps: { accounts: AccountStore; collections: CollectionIndex; identity: IdentityCache; allowInsecureHosts: boolean },
  result: EnumerateResult,
): Promise<void> => {
  if (!isDid(r.did) || typeof r.head !== 'string' || !isTid(r.rev)) {
    result.refused++
    return
  }
  const did = r.did
  if (deps.accounts.get(did)) return
  const ident = await deps.identity.resolve(did)
  if (!ident || !sameHost(ident.pdsHost, hostname)) {
    result.refused++
    log.debug({ host: hostname, did }, 'listed repo is not hosted there: not adopted')
    return
  }
  // the stream may have created it while we resolved
  if (deps.accounts.get(did)) return
  const acc = deps.accounts.create(did, hostname)
  acc.head = r.head
  acc.rev = r.rev as string
  acc.active = r.active !== false
  acc.status = acc.active ? null : typeof r.status === 'string' ? r.status : 'deactivated'
  acc.listed = true
  deps.accounts.save(acc)
  result.adopted++
  // its collections, from the host (describeRepo); without them it appears in listReposByCollection with its next write
  try {
    const body = (await hostQuery(hostname, deps.allowInsecureHosts, 'com.atproto.repo.describeRepo', { repo: did })) as { collections?: unknown }
    if (Array.isArray(body.collections)) deps.collections.add(did, body.collections.filter(isNsid))
  } catch (err) {
    log.debug({ host: hostname, did, err: (err as Error).message }, 'describeRepo failed')
  }
}
