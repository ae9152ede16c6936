import type { EventLog, LogEvent } from '@atsuite/common'
import { outboxLogger as log } from '../logger.ts'

/**
 * The relay's outgoing stream: accepted upstream events are queued here and
 * appended to the EventLog (the relay's own seqs, frames encoded once) in
 * one transaction per event-loop turn, so a burst of frames costs one
 * SQLite commit, not one per event. Order of `push` is log order.
 */
export class MergedLog {
  readonly log: EventLog
  private pending: LogEvent[] = []
  private scheduled = false
  private closed = false

  constructor(log: EventLog) {
    this.log = log
  }

  push(evt: LogEvent): void {
    if (this.closed) return
    this.pending.push(evt)
    if (this.pending.length >= 500) this.flush()
    else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  /** Appends everything queued (synchronously). */
  flush(): void {
    this.scheduled = false
    if (this.pending.length === 0 || this.closed) return
    const batch = this.pending
    this.pending = []
    try {
      this.log.append(batch)
    } catch (err) {
      log.error({ err, events: batch.length }, 'appending to the event log failed')
    }
  }

  close(): void {
    this.flush()
    this.closed = true
  }
}
