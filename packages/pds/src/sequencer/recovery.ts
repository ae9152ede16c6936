import fs from 'node:fs'
import path from 'node:path'
import { parseCid } from '@atproto/lex-data'
import type { AppContext } from '../context.ts'
import { seqLogger } from '../logger.ts'
import { syncEvent } from './events.ts'

const MARKER = 'clean-shutdown'

/**
 * A commit is durable in its account's store before its #commit event is
 * appended to the firehose log (the two live in different SQLite files, so
 * they cannot share one transaction); both happen in the same tick, and the
 * account database's copy of the head (`repo_root`) is updated right after
 * the event. A crash in that window leaves a commit that was never
 * announced, and it shows as a store head newer than `repo_root`.
 *
 * After an unclean shutdown this finds such accounts and announces their
 * current head with #sync (the event that tells consumers to resync), then
 * records the head. After a clean shutdown (marker file) it does nothing.
 */
export const recoverUnannouncedCommits = async (ctx: AppContext): Promise<string[]> => {
  const marker = path.join(ctx.cfg.dataDirectory, MARKER)
  if (fs.existsSync(marker)) {
    fs.rmSync(marker)
    return []
  }
  const rows = await ctx.accountDb.kysely.selectFrom('repo_root').select(['did', 'rev']).execute()
  const recovered: string[] = []
  for (const row of rows) {
    if (!ctx.actorStore.exists(row.did)) continue
    const head = ctx.actorStore.read(row.did, (db) => {
      const root = db.getRoot()
      if (!root || root.rev === row.rev) return undefined
      const bytes = db.getBlock(root.cid)
      return bytes ? { root, bytes } : undefined
    })
    if (!head) continue
    const { root, bytes } = head
    ctx.sequencer.append([syncEvent(row.did, parseCid(root.cid), bytes, root.rev)])
    ctx.accounts.setRepoRoot(row.did, root.cid, root.rev)
    recovered.push(row.did)
  }
  if (recovered.length > 0) seqLogger.warn({ count: recovered.length }, 'announced commits left unannounced by a crash')
  return recovered
}

export const markCleanShutdown = (ctx: AppContext): void => {
  fs.writeFileSync(path.join(ctx.cfg.dataDirectory, MARKER), new Date().toISOString())
}
