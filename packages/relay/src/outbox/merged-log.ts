import { Histogram, type EventLog, type LogEvent } from '@atsuite/common'
import { outboxLogger as log } from '../logger.ts'

/**
 * The relay's outgoing stream: accepted upstream events are queued here and
 * appended to the EventLog (the relay's own seqs, frames encoded once) in
 * one transaction per event-loop turn, so a burst of frames costs one
 * SQLite commit, not one per event. Order of `push` is log order.
 *
 * An append that fails (disk full, read-only file, I/O error) loses
 * nothing: the batch stays queued, in order, ahead of anything pushed
 * later, `failing` holds the error, and `flush()` answers false until an
 * append succeeds again. The relay's flush stops there, so account state
 * and host cursors are never persisted past what the log holds, and it
 * pauses ingestion until the log takes events again (RelayContext.flush).
 */
export class MergedLog {
  readonly log: EventLog
  private pending: LogEvent[] = []
  private scheduled = false
  private closed = false
  /** the last append's error while appends fail, else null */
  failing: Error | null = null
  /** appends that failed since start */
  failures = 0
  /**
   * The relay's own latency, µs, of every relayed upstream event: from the
   * frame coming off the host's socket to its append, which hands it to every
   * live subscriber's socket (`/admin/status`, `/admin/latency`).
   */
  readonly latency = new Histogram()
  private readonly onState: (failing: boolean) => void

  /** `onState` is told when appends start failing and when they succeed again. */
  constructor(log: EventLog, onState: (failing: boolean) => void = () => {}) {
    this.log = log
    this.onState = onState
  }

  /** Events accepted but not yet in the log. */
  get queued(): number {
    return this.pending.length
  }

  push(evt: LogEvent): void {
    if (this.closed) return
    this.pending.push(evt)
    // while appends fail, retries come from the relay's flush timer, not from every push
    if (this.failing) return
    if (this.pending.length >= 500) this.flush()
    else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  /** Appends everything queued (synchronously). False when the log refused it (nothing is lost: it stays queued). */
  flush(): boolean {
    this.scheduled = false
    if (this.pending.length === 0 || this.closed) return this.failing === null
    const batch = this.pending
    this.pending = []
    try {
      this.log.append(batch)
    } catch (err) {
      this.pending = batch.concat(this.pending)
      this.failures++
      const first = !this.failing
      this.failing = err instanceof Error ? err : new Error(String(err))
      if (first) {
        log.error({ err, queued: this.pending.length }, 'the event log refuses appends; events stay queued and ingestion pauses')
        this.onState(true)
      }
      return false
    }
    const now = performance.now()
    for (const evt of batch) if (evt.receivedAt !== undefined) this.latency.record((now - evt.receivedAt) * 1000)
    if (this.failing) {
      log.info({ appended: batch.length }, 'the event log takes appends again')
      this.failing = null
      this.onState(false)
    }
    return true
  }

  close(): void {
    this.flush()
    this.closed = true
  }
}
