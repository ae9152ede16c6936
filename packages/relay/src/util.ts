import type { l } from '@atsuite/lexicon'

/** Time source; tests may replace it (RelayOverrides.clock). */
export type Clock = { now(): number }

export const systemClock: Clock = { now: () => Date.now() }

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** `did:${method}:${id}`, as the lexicons type a `did`-format string. */
export type DidString = l.DidString

const DID_RE = /^did:[a-z]+:[a-zA-Z0-9._:%-]{1,2048}$/

/**
 * The DID syntax the relay accepts (method in lower case, up to 2048 id
 * characters). Everything typed `DidString` in the relay passed this check
 * (or the lexicon's own, at the XRPC boundary).
 */
export const isDid = (v: unknown): v is DidString => typeof v === 'string' && DID_RE.test(v)

const NSID_RE = /^[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z0-9-]+)+$/

/** A collection name as the relay takes it from hosts and subscribers: NSID segments, at most 317 characters. */
export const isNsid = (v: unknown): v is string => typeof v === 'string' && v.length <= 317 && NSID_RE.test(v)
