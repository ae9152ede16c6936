import type { EventLog } from '@atsuite/common'
import { cidKey, decodeFrame, parseCar } from '@atsuite/common'
import { CidRef, decodeCbor } from '@atsuite/common/dag-cbor'
import type { RelayDb } from '../db/index.ts'
import { outboxLogger as log } from '../logger.ts'
import { isDid } from '../util.ts'
import type { AccountStore } from './account-store.ts'

const PAGE = 1000

/** The log seq the relay database was last persisted with (null: never recorded, a database from before it was). */
export const persistedLogSeq = (db: RelayDb): number | null => {
  const row = db.sqlite.prepare('SELECT logSeq FROM relay_state WHERE id = 1').get() as { logSeq: number } | undefined
  return row ? Number(row.logSeq) : null
}

/** Inside the flush transaction: account state, collections and cursors now match the log up to `seq`. */
export const setPersistedLogSeq = (db: RelayDb, seq: number): void => {
  db.sqlite.prepare('INSERT INTO relay_state (id, logSeq) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET logSeq = excluded.logSeq').run(seq)
}

/**
 * At start: the event log can be ahead of account state (events are
 * appended as they are accepted, state is written behind every 100 ms), so
 * a kill -9 in between leaves events in the log that account state does not
 * know. Host cursors are behind them too, so the hosts re-send those events;
 * without this the relay would take them as new and relay them twice. This
 * re-applies what the log holds after the persisted seq (#commit and #sync:
 * head, rev, MST root; #account: active/status) so the re-sent events are
 * recognised as already relayed. Returns how many events were re-applied.
 */
export const reconcileFromLog = (db: RelayDb, eventLog: EventLog, accounts: AccountStore): number => {
  const persisted = persistedLogSeq(db)
  const until = eventLog.currentSeq
  if (persisted === null) {
    // a database from before the mark: its state is taken as it stands, from here on the mark is kept
    setPersistedLogSeq(db, until)
    return 0
  }
  let after = persisted
  if (after >= until) return 0
  let applied = 0
  while (after < until) {
    const rows = eventLog.after(after, PAGE)
    if (rows.length === 0) break
    for (const row of rows) {
      after = row.seq
      if (!isDid(row.did)) continue
      let frame
      try {
        frame = decodeFrame(row.frame)
      } catch {
        continue
      }
      if (frame.op !== 1) continue
      const body = frame.body as Record<string, unknown>
      const acc = accounts.get(row.did)
      if (!acc) continue // created by an event whose state was not persisted: it is re-created when re-sent
      if (frame.type === '#commit' || frame.type === '#sync') {
        const head = frame.type === '#commit' ? body.commit : undefined
        const blocks = body.blocks
        if (typeof body.rev !== 'string' || !(blocks instanceof Uint8Array)) continue
        const car = parseCar(blocks, undefined, { verified: true })
        const root = head instanceof CidRef ? head : car.roots[0]
        const commitBytes = root ? car.blocks.get(cidKey(root)) : undefined
        if (!root || !commitBytes) continue
        const commit = decodeCbor(commitBytes) as { data?: unknown }
        acc.head = root.toString()
        acc.rev = body.rev
        if (commit.data instanceof CidRef) acc.data = commit.data.toString()
        acc.desynchronized = false
        accounts.save(acc)
        applied++
      } else if (frame.type === '#account' && typeof body.active === 'boolean') {
        if (body.status === 'desynchronized') continue // the relay's own announcement, not the host's status
        acc.active = body.active
        acc.status = body.active ? null : typeof body.status === 'string' ? body.status : null
        accounts.save(acc)
        applied++
      }
    }
  }
  db.transaction(() => {
    accounts.flush()
    setPersistedLogSeq(db, until)
  })
  if (applied > 0) log.warn({ events: applied, from: persisted, to: until }, 'account state caught up with the event log after an unclean stop')
  return applied
}
