import type { Server } from '@atproto/xrpc-server'
import type { RelayContext } from '../context.ts'
import type { Route } from './util.ts'
import { getHostStatus } from './com/atproto/sync/getHostStatus.ts'
import { getLatestCommit } from './com/atproto/sync/getLatestCommit.ts'
import { getRepoStatus } from './com/atproto/sync/getRepoStatus.ts'
import { listHosts } from './com/atproto/sync/listHosts.ts'
import { listRepos } from './com/atproto/sync/listRepos.ts'
import { listReposByCollection } from './com/atproto/sync/listReposByCollection.ts'
import { requestCrawl } from './com/atproto/sync/requestCrawl.ts'

const routes: Route[] = [requestCrawl, listHosts, getHostStatus, listRepos, listReposByCollection, getLatestCommit, getRepoStatus]

export const registerRoutes = (server: Server, ctx: RelayContext): void => {
  for (const route of routes) route(server, ctx)
}
