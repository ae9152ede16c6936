import type { DidString } from '@atproto/syntax'
import { toDatetimeString } from '@atproto/syntax'
import { subsystemLogger } from '@atsuite/common'
import type { AppViewDb } from '../db/index.ts'
import type { IndexerCounters } from './counters.ts'
import type { IdentityService } from './identity.ts'
import type { IndexWriter } from './writer.ts'

const log = subsystemLogger('appview:identity')

const CONCURRENCY = 8
/** a handle check that could not be made is tried again after these delays */
const RETRY_MS = [5_000, 30_000, 120_000, 600_000]

/**
 * Keeps actors' handles, PDS endpoints and signing keys current: each
 * `refresh(did)` (an `#identity` event, an account's first sight) resolves
 * the DID document again and verifies the handle, a few at a time, in the
 * background — it never holds an account's commits back. Requests for a DID
 * already waiting are merged.
 */
export class IdentityRefresher {
  private readonly db: AppViewDb
  private readonly w: IndexWriter
  private readonly identity: IdentityService
  private readonly counters: IndexerCounters
  private readonly onDone: () => void
  private readonly queue = new Set<DidString>()
  private active = 0
  private closed = false
  private readonly attempts = new Map<DidString, number>()
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor(opts: { db: AppViewDb; writer: IndexWriter; identity: IdentityService; counters: IndexerCounters; onDone: () => void }) {
    this.db = opts.db
    this.w = opts.writer
    this.identity = opts.identity
    this.counters = opts.counters
    this.onDone = opts.onDone
  }

  get idle(): boolean {
    return this.queue.size === 0 && this.active === 0
  }

  refresh(did: DidString): void {
    this.queue.add(did)
    this.pump()
  }

  private pump(): void {
    while (!this.closed && this.active < CONCURRENCY && this.queue.size > 0) {
      const did = this.queue.values().next().value!
      this.queue.delete(did)
      this.active++
      void this.resolve(did).finally(() => {
        this.active--
        this.pump()
        this.onDone()
      })
    }
  }

  private async resolve(did: DidString): Promise<void> {
    let unknown = false
    try {
      const id = await this.identity.resolve(did)
      if (this.closed) return
      this.counters.count('identity_refreshes')
      unknown = id.handleCheck === 'unknown'
      const now = toDatetimeString(new Date())
      this.w.transaction(() => {
        if (unknown) {
          // the check could not be made: the handle stays as it was until it can
          this.w.run('UPDATE actor SET pdsEndpoint = ?, signingKey = ?, identityRefreshedAt = ? WHERE did = ?', id.pdsEndpoint, id.signingKey, now, did)
        } else {
          this.w.run(
            'UPDATE actor SET handle = ?, pdsEndpoint = ?, signingKey = ?, identityRefreshedAt = ? WHERE did = ?',
            id.handle,
            id.pdsEndpoint,
            id.signingKey,
            now,
            did,
          )
          this.w.indexActorText(did)
        }
      })
    } catch (err) {
      unknown = true
      log.warn({ err, did }, 'identity resolution failed')
    }
    if (unknown) this.retryLater(did)
    else this.attempts.delete(did)
  }

  private retryLater(did: DidString): void {
    const n = this.attempts.get(did) ?? 0
    const delay = RETRY_MS[n]
    if (delay === undefined || this.closed) {
      this.attempts.delete(did)
      return
    }
    this.attempts.set(did, n + 1)
    const t = setTimeout(() => {
      this.timers.delete(t)
      this.refresh(did)
    }, delay)
    t.unref()
    this.timers.add(t)
  }

  close(): void {
    this.closed = true
    this.queue.clear()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }
}
