/**
 * Why the indexer skipped something, each a named counter (HACKING.md has the
 * table; tests assert them). A skip never stalls indexing: the event's other
 * ops and later events proceed.
 */
export const SKIP_REASONS = [
  /** a record that fails its lexicon (or a semantic check such as a list item naming another's list) */
  'invalid_record',
  /** a post replying to or quoting itself */
  'self_reference',
  /** a record at an rkey its collection does not allow (a profile not at `self`) */
  'bad_rkey',
  /** a record larger than APPVIEW_MAX_RECORD_BYTES */
  'too_big',
  /** a record whose bytes are not valid DAG-CBOR */
  'bad_record_cbor',
  /** a create/update whose record block the commit does not carry (the repo is resynced) */
  'missing_block',
  /** a frame that does not decode (bad CBOR, bad CAR, wrong shapes) */
  'bad_frame',
  /** a commit at or below the rev already indexed (a replay after restart) */
  'stale_commit',
] as const

export type SkipReason = (typeof SKIP_REASONS)[number]

/** What the indexer did, for tests and the stats endpoint. */
export const ACTIVITY = ['events', 'transactions', 'commits', 'records_indexed', 'records_deleted', 'resyncs', 'backfills', 'resync_failures', 'identity_refreshes'] as const
export type Activity = (typeof ACTIVITY)[number]

export type CountersJson = { skipped: Record<string, number>; activity: Record<string, number> }

export class IndexerCounters {
  readonly skipped = new Map<SkipReason, number>(SKIP_REASONS.map((r) => [r, 0]))
  readonly activity = new Map<Activity, number>(ACTIVITY.map((a) => [a, 0]))

  skip(reason: SkipReason, n = 1): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + n)
  }

  count(what: Activity, n = 1): void {
    this.activity.set(what, (this.activity.get(what) ?? 0) + n)
  }

  toJSON(): CountersJson {
    return { skipped: Object.fromEntries(this.skipped), activity: Object.fromEntries(this.activity) }
  }
}
