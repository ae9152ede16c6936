import type { Server } from '@atproto/xrpc-server'
import { isValidDid, isValidHandle, type AtIdentifierString, type DidString } from '@atproto/syntax'
import type { AppContext } from '../context.ts'
import type { ViewerAuth } from '../auth/auth-verifier.ts'
import type { HydrateCtx } from '../hydration/state.ts'

export type Route = (server: Server, ctx: AppContext) => void

export const json = <T>(body: T, headers?: Record<string, string>) => ({
  encoding: 'application/json' as const,
  body,
  ...(headers ? { headers } : {}),
})

export const hydrateCtx = (auth: ViewerAuth): HydrateCtx => ({ viewer: auth.credentials.iss })

/** A handle or DID as the DID of an indexed actor; null when unknown. */
export const resolveActor = async (ctx: AppContext, actor: AtIdentifierString): Promise<DidString | null> => {
  if (isValidDid(actor)) {
    const row = await ctx.db.kysely.selectFrom('actor').select('did').where('did', '=', actor).executeTakeFirst()
    return row?.did ?? null
  }
  const handle = actor.toLowerCase()
  if (!isValidHandle(handle)) return null
  const row = await ctx.db.kysely.selectFrom('actor').select('did').where('handle', '=', handle).executeTakeFirst()
  return row?.did ?? null
}

/**
 * `Atproto-Repo-Rev`: the viewer's repo rev as indexed here, so their PDS can
 * add what they wrote after it (read-after-write).
 */
export const repoRevHeaders = async (ctx: AppContext, viewer: DidString | null): Promise<Record<string, string> | undefined> => {
  if (!viewer) return undefined
  const row = await ctx.db.kysely.selectFrom('actor').select('rev').where('did', '=', viewer).executeTakeFirst()
  return row?.rev ? { 'atproto-repo-rev': row.rev } : undefined
}

export const clampLimit = (limit: number | undefined, def: number, max: number): number => {
  if (limit === undefined || !Number.isFinite(limit)) return def
  return Math.max(1, Math.min(max, Math.floor(limit)))
}

/**
 * A paged read whose rules may drop items (blocks, hidden accounts) is run
 * again from its own cursor while the page is short, so a page is only short
 * when nothing follows it (or after `maxRequests` reads). `fetch` returns one
 * page; the first result carries the others' items and the last cursor.
 */
export const fillPage = async <R extends { cursor?: string }, T>(opts: {
  limit: number
  cursor: string | undefined
  fetch: (cursor: string | undefined, limit: number) => Promise<R>
  items: (r: R) => T[]
  maxRequests?: number
}): Promise<R> => {
  const first = await opts.fetch(opts.cursor, opts.limit)
  const items = opts.items(first)
  let cursor = first.cursor
  for (let n = 1; n < (opts.maxRequests ?? 5) && cursor && items.length < opts.limit; n++) {
    const page = await opts.fetch(cursor, opts.limit - items.length)
    items.push(...opts.items(page))
    cursor = page.cursor
  }
  if (cursor) first.cursor = cursor
  else delete first.cursor
  return first
}
