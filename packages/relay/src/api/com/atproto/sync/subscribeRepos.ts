import { SubscriptionServer } from '@atsuite/common'
import type { RelayContext } from '../../../../context.ts'

/**
 * com.atproto.sync.subscribeRepos: the relay's merged log served over
 * WebSocket with the PDS's cursor, buffer and error semantics (common's
 * SubscriptionServer): frames encoded once when sequenced.
 */
export const subscribeRepos = (ctx: RelayContext): SubscriptionServer =>
  new SubscriptionServer('/xrpc/com.atproto.sync.subscribeRepos', ctx.eventLog, { maxBufferBytes: ctx.cfg.maxBufferBytes })
