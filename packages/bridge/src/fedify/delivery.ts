import { AsyncLocalStorage } from 'node:async_hooks'
import { Temporal } from '@js-temporal/polyfill'
import type { Statement } from 'better-sqlite3'
import type { BridgeDb } from '../db/index.ts'
import { federationLogger as log } from '../logger.ts'

/** The part of Fedify's queued delivery ("outbox") message we read. */
type OutboxMessage = { type: 'outbox'; activityId?: string; inbox: string; attempt: number }

export const isOutboxMessage = (m: unknown): m is OutboxMessage =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'outbox' && typeof (m as { inbox?: unknown }).inbox === 'string'

const hostOf = (inbox: string): string => {
  try {
    return new URL(inbox).host.toLowerCase()
  } catch {
    return inbox
  }
}

/** What one delivery attempt came to, told by Fedify's error hook and retry policy while it runs. */
type Attempt = { failed: boolean; gaveUp: boolean }
const attempt = new AsyncLocalStorage<Attempt>()

export type DeliveryStats = { delivered: number; failed: number; gaveUp: number; duplicatesDropped: number; deadDropped: number; probes: number }

export type DeliveryPolicy = {
  /** a delivery still failing this long after it was first tried is given up, ms */
  giveUpMs: number
  /** the longest wait between two tries, ms */
  maxDelayMs: number
  /** an instance a delivery gave up on gets one delivery (a probe) this often; the others are dropped, ms */
  deadProbeMs: number
  /** how long delivered (activity, inbox) pairs are remembered, ms */
  rememberMs: number
}

/**
 * Delivery bookkeeping around Fedify's outbox: which activity reached which
 * inbox (a resend of the same activity to the same inbox, from a firehose
 * replay or a retried task, is dropped), and which instances are dead (a
 * delivery failed for `giveUpMs`; further deliveries to them are dropped,
 * but for one probe every `deadProbeMs`, until one succeeds or the instance
 * sends us a signed activity). The retry policy Fedify uses (exponential
 * backoff with jitter, bounded by `giveUpMs`) is `retryPolicy`.
 */
export class DeliveryLedger {
  readonly policy: DeliveryPolicy
  readonly stats: DeliveryStats = { delivered: 0, failed: 0, gaveUp: 0, duplicatesDropped: 0, deadDropped: 0, probes: 0 }
  private readonly stmt: Record<'wasDelivered' | 'delivered' | 'success' | 'failure' | 'dead' | 'instance' | 'probe' | 'revive' | 'prune', Statement>

  constructor(db: BridgeDb, policy: DeliveryPolicy) {
    this.policy = policy
    const sql = db.sqlite
    this.stmt = {
      wasDelivered: sql.prepare('SELECT 1 FROM delivery WHERE activityId = ? AND inbox = ?'),
      delivered: sql.prepare('INSERT INTO delivery (activityId, inbox, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      success: sql.prepare(
        'INSERT INTO instance (host, lastSuccess) VALUES (?, ?) ON CONFLICT(host) DO UPDATE SET lastSuccess = excluded.lastSuccess, failingSince = NULL, deadSince = NULL, lastProbe = NULL',
      ),
      failure: sql.prepare('INSERT INTO instance (host, failingSince) VALUES (?, ?) ON CONFLICT(host) DO UPDATE SET failingSince = coalesce(failingSince, excluded.failingSince)'),
      dead: sql.prepare('UPDATE instance SET deadSince = coalesce(deadSince, ?), lastProbe = ? WHERE host = ?'),
      instance: sql.prepare('SELECT host, failingSince, deadSince, lastProbe, lastSuccess FROM instance WHERE host = ?'),
      probe: sql.prepare('UPDATE instance SET lastProbe = ? WHERE host = ?'),
      revive: sql.prepare('UPDATE instance SET failingSince = NULL, deadSince = NULL, lastProbe = NULL WHERE host = ? AND (deadSince IS NOT NULL OR failingSince IS NOT NULL)'),
      prune: sql.prepare('DELETE FROM delivery WHERE at < ?'),
    }
  }

  /** Fedify's `outboxRetryPolicy`: 1 s, 2 s, 4 s… (jittered, at most `maxDelayMs`) until `giveUpMs` after the first try. */
  readonly retryPolicy = ({ elapsedTime, attempts }: { elapsedTime: Temporal.Duration; attempts: number }): Temporal.Duration | null => {
    const elapsed = elapsedTime.total({ unit: 'millisecond' })
    const left = this.policy.giveUpMs - elapsed
    if (left <= 0) {
      const a = attempt.getStore()
      if (a) a.gaveUp = true
      return null
    }
    const backoff = Math.min(1000 * 2 ** Math.min(attempts, 30) * (1 + Math.random()), this.policy.maxDelayMs)
    // the last try lands at the deadline rather than long after it
    return Temporal.Duration.from({ milliseconds: Math.max(0, Math.round(Math.min(backoff, left))) })
  }

  /** Fedify's `onOutboxError`: the attempt in hand failed (it is retried or given up by `retryPolicy`). */
  readonly onError = (): void => {
    const a = attempt.getStore()
    if (a) a.failed = true
  }

  /** Whether a queued delivery should go now (false: already delivered there, or a dead instance's turn to wait). */
  shouldSend(message: OutboxMessage, now = Date.now()): boolean {
    if (message.activityId && this.stmt.wasDelivered.get(message.activityId, message.inbox)) {
      this.stats.duplicatesDropped++
      return false
    }
    const host = hostOf(message.inbox)
    const inst = this.instance(host)
    if (inst?.deadSince == null) return true
    if (now - (inst.lastProbe ?? 0) >= this.policy.deadProbeMs) {
      // one delivery goes through as a probe; success revives the instance
      this.stmt.probe.run(now, host)
      this.stats.probes++
      return true
    }
    this.stats.deadDropped++
    return false
  }

  /** Runs one delivery (Fedify's handler for `message`) and records what it came to. */
  async run(message: OutboxMessage, send: () => Promise<void> | void): Promise<void> {
    const a: Attempt = { failed: false, gaveUp: false }
    await attempt.run(a, send)
    const host = hostOf(message.inbox)
    const now = Date.now()
    if (!a.failed) {
      if (message.activityId) this.stmt.delivered.run(message.activityId, message.inbox, now)
      this.stmt.success.run(host, now)
      this.stats.delivered++
      return
    }
    this.stats.failed++
    this.stmt.failure.run(host, now)
    if (a.gaveUp) {
      this.stats.gaveUp++
      this.stmt.dead.run(now, now, host)
      log.warn({ host, inbox: message.inbox, activityId: message.activityId }, 'delivery given up; instance marked dead')
    }
  }

  /** A signed activity arrived from `host`: it is alive again. */
  revive(host: string): void {
    this.stmt.revive.run(host.toLowerCase())
  }

  instance(host: string): { host: string; failingSince: number | null; deadSince: number | null; lastProbe: number | null; lastSuccess: number | null } | undefined {
    return this.stmt.instance.get(host.toLowerCase()) as ReturnType<DeliveryLedger['instance']>
  }

  wasDelivered(activityId: string, inbox: string): boolean {
    return this.stmt.wasDelivered.get(activityId, inbox) !== undefined
  }

  /** Forgets deliveries older than `rememberMs`. */
  prune(now = Date.now()): number {
    return this.stmt.prune.run(now - this.policy.rememberMs).changes
  }
}
