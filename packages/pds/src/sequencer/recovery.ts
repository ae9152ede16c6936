import fs from 'node:fs'
import path from 'node:path'
import { parseCid } from '@atproto/lex-data'
import type { AppContext } from '../context.ts'
import { seqLogger } from '../logger.ts'
import { syncEvent } from './events.ts'

const MARKER = 'clean-shutdown'

export type Recovery = {
  /** accounts whose committed but unsequenced #commit events were sequenced now */
  sequenced: { did: string; events: number }[]
  /** accounts whose store head moved without a commit event (import, re-signing cut short): announced with #sync */
  synced: string[]
}

/**
 * After an unclean shutdown (no clean-shutdown marker), before the PDS
 * listens: every account whose store head is newer than the head recorded as
 * sequenced gets its outbox events appended to the firehose as the normal
 * `#commit`s they were committed as, in rev order (sequencer/commits.ts says
 * why that is exact). A head no outbox event covers (the store moved by an
 * import or a re-signing that a crash cut off before its announcement) is
 * announced with `#sync`. After a clean shutdown it does nothing.
 */
export const recoverUnannouncedCommits = async (ctx: AppContext): Promise<Recovery> => {
  const result: Recovery = { sequenced: [], synced: [] }
  const marker = path.join(ctx.cfg.dataDirectory, MARKER)
  if (fs.existsSync(marker)) {
    fs.rmSync(marker)
    return result
  }
  // every account, with the head last recorded as sequenced if any: that record is written behind
  // (within 100 ms), so an account made just before the crash may have none yet, while its store
  // already holds commits whose events never reached the log
  const rows = await ctx.accountDb.kysely
    .selectFrom('account')
    .leftJoin('repo_root', 'repo_root.did', 'account.did')
    .select(['account.did as did', 'repo_root.rev as rev'])
    .execute()
  for (const row of rows) {
    if (!ctx.actorStore.exists(row.did)) continue
    await ctx.actorStore.transact(row.did, (db) => {
      const root = db.getRoot()
      if (!root || root.rev === row.rev) return
      const { appended, headCovered } = ctx.commits.sequenceOutbox(db, row.did)
      if (appended > 0) result.sequenced.push({ did: row.did, events: appended })
      // with no head recorded at all, a head no event covers is the new repo's own, which account
      // creation announces (with its #sync) itself
      if (headCovered || row.rev === null) return
      const bytes = db.getBlock(root.cid)
      if (!bytes) return
      ctx.sequencer.append([syncEvent(row.did, parseCid(root.cid), bytes, root.rev)])
      result.synced.push(row.did)
    })
  }
  if (result.sequenced.length > 0) seqLogger.warn({ accounts: result.sequenced }, 'sequenced commits a crash left in the outbox')
  if (result.synced.length > 0) seqLogger.warn({ count: result.synced.length }, 'announced heads without a commit event with #sync')
  return result
}

export const markCleanShutdown = (ctx: AppContext): void => {
  fs.writeFileSync(path.join(ctx.cfg.dataDirectory, MARKER), new Date().toISOString())
}
