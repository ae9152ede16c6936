import type { Cid } from '@atproto/lex-data'
import type { LogEvent } from '@atsuite/common'
import type { CommitEvent } from '../repo/repo-writer.ts'
import { encodeCar } from '../repo/car.ts'

// Event bodies of com.atproto.sync.subscribeRepos (sync v1.1). `seq` is set
// when the event is sequenced; everything else is fixed at creation.

export type EventType = '#commit' | '#identity' | '#account' | '#sync'

export type PendingEvent = LogEvent & { type: EventType }

/** A commit's event. The writer refuses commits over the firehose's size limit, so `tooBig` (deprecated) is always false. */
export const commitEvent = (evt: CommitEvent): PendingEvent => {
  const { commit } = evt
  const car = encodeCar(commit.cid, [...commit.newBlocks, ...commit.relevantBlocks])
  return {
    did: evt.did,
    type: '#commit',
    body: {
      repo: evt.did,
      commit: commit.cid,
      rev: commit.rev,
      since: commit.since,
      blocks: car,
      ops: evt.ops.map((op) => {
        const o: Record<string, unknown> = { action: op.action, path: op.path, cid: op.cid }
        if (op.prev) o.prev = op.prev
        return o
      }),
      ...(evt.prevData ? { prevData: evt.prevData } : {}),
      rebase: false,
      tooBig: false,
      blobs: [],
      time: new Date().toISOString(),
    },
  }
}

export const syncEvent = (did: string, commitCid: Cid, commitBytes: Uint8Array, rev: string): PendingEvent => {
  const car = encodeCar(commitCid, [[commitCid, commitBytes]])
  return { did, type: '#sync', body: { did, blocks: car, rev, time: new Date().toISOString() } }
}

export const identityEvent = (did: string, handle?: string): PendingEvent => ({
  did,
  type: '#identity',
  body: { did, time: new Date().toISOString(), ...(handle ? { handle } : {}) },
})

export const accountEvent = (
  did: string,
  active: boolean,
  status?: 'takendown' | 'suspended' | 'deleted' | 'deactivated',
): PendingEvent => ({
  did,
  type: '#account',
  body: { did, active, ...(status ? { status } : {}), time: new Date().toISOString() },
})
