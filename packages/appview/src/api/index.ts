import type { Server } from '@atproto/xrpc-server'
import type { AppContext } from '../context.ts'
import type { Route } from './util.ts'
import { preserializingServer } from './json-output.ts'
import { actorRoutes } from './app/bsky/actor/index.ts'
import { discoveryRoutes } from './app/bsky/actor/discovery.ts'
import { feedRoutes } from './app/bsky/feed/index.ts'
import { feedGeneratorRoutes } from './app/bsky/feed/generators.ts'
import { interactionRoutes } from './app/bsky/feed/interactions.ts'
import { searchRoutes } from './app/bsky/feed/search.ts'
import { graphRoutes } from './app/bsky/graph/index.ts'
import { notificationRoutes } from './app/bsky/notification/index.ts'

const routes: Route[] = [
  ...actorRoutes,
  ...discoveryRoutes,
  ...feedRoutes,
  ...interactionRoutes,
  ...feedGeneratorRoutes,
  ...searchRoutes,
  ...graphRoutes,
  ...notificationRoutes,
]

/** `preserialize`: JSON answers written by our serializer (off when xrpc-server validates responses). */
export const registerRoutes = (server: Server, ctx: AppContext, opts: { preserialize: boolean }): void => {
  const target = opts.preserialize ? preserializingServer(server) : server
  for (const route of routes) route(target, ctx)
}
