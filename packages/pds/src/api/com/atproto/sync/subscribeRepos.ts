import { SubscriptionServer } from '@atsuite/common'
import type { AppContext } from '../../../../context.ts'

/**
 * com.atproto.sync.subscribeRepos: the firehose log served over WebSocket
 * (frames encoded once at sequencing, shared by all subscribers).
 */
export const subscribeRepos = (ctx: AppContext): SubscriptionServer =>
  new SubscriptionServer('/xrpc/com.atproto.sync.subscribeRepos', ctx.sequencer, {
    maxBufferBytes: ctx.cfg.firehose.maxBufferBytes,
  })
