import type { DidString } from '@atproto/syntax'
import { toDatetimeString } from '@atproto/syntax'
import { subsystemLogger } from '@atsuite/common'
import type { AppViewDb } from '../db/index.ts'
import type { IndexerCounters } from './counters.ts'
import type { IdentityService } from './identity.ts'
import type { IndexWriter } from './writer.ts'

const log = subsystemLogger('appview:identity')

const CONCURRENCY = 8

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
    try {
      const id = await this.identity.resolve(did)
      if (this.closed) return
      this.counters.count('identity_refreshes')
      this.w.transaction(() => {
        this.w.run(
          'UPDATE actor SET handle = ?, pdsEndpoint = ?, signingKey = ?, identityRefreshedAt = ? WHERE did = ?',
          id.handle,
          id.pdsEndpoint,
          id.signingKey,
          toDatetimeString(new Date()),
          did,
        )
        this.w.indexActorText(did)
      })
    } catch (err) {
      log.warn({ err, did }, 'identity resolution failed')
    }
  }

  close(): void {
    this.closed = true
    this.queue.clear()
  }
}
