/**
 * Shared bits of the whole-network tests: writes through a real client, and
 * views of what a verifying Firehose consumer received.
 */
import type { AtpAgent } from '@atproto/api'
import type { Event } from '@atproto/sync'
import { TestFirehose, type TestNetwork } from '@atsuite/dev-env'

export const POST = 'app.bsky.feed.post'

/** A 1×1 PNG, for image uploads. */
export const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64')

export type Written = { uri: string; cid: string }

export const post = async (agent: AtpAgent, text: string): Promise<Written> =>
  agent.post({ text, createdAt: new Date().toISOString() })

export const rkeyOf = (uri: string): string => uri.split('/').pop()!

/** A verifying consumer of the relay's stream, resuming after `cursor` (0: the whole log). */
export const relayConsumer = (net: TestNetwork, cursor: number): TestFirehose =>
  new TestFirehose({ service: net.relay.url, plcUrl: net.plc.url, cursor })

export type WriteEvent = Extract<Event, { event: 'create' | 'update' | 'delete' }>

/** Record operations (create/update/delete) of one repo, in stream order. */
export const writesOf = (events: Event[], did: string): WriteEvent[] =>
  events.filter((e): e is WriteEvent => (e.event === 'create' || e.event === 'update' || e.event === 'delete') && e.did === did)

/** "create at://…" per record operation: what a test compares with the writes it made. */
export const describeWrite = (e: WriteEvent): string => `${e.event} ${e.uri.toString()}`

/**
 * The stream's order holds: seqs never go back (the ops of one commit share
 * one), and no operation of a commit appears twice (not even under another
 * seq). Returns the defect, or null.
 */
export const orderDefect = (events: Event[]): string | null => {
  const seen = new Set<string>()
  let prev = 0
  for (const e of events) {
    if (e.seq < prev) return `seq went back from ${prev} to ${e.seq}`
    prev = e.seq
    if (e.event === 'create' || e.event === 'update' || e.event === 'delete') {
      const key = `${e.commit.toString()} ${describeWrite(e)}`
      if (seen.has(key)) return `duplicate: ${key}`
      seen.add(key)
    }
  }
  return null
}
