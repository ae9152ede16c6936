/** Why an upstream event was not relayed (per-host counters, HACKING.md explains each). */
export const DROP_REASONS = [
  'bad_frame', // undecodable CBOR, bad header, malformed body
  'too_big', // frame > maxFrameBytes, blocks > 2 MB, > 200 ops, tooBig flag
  'unresolvable_did', // DID does not resolve to a document with a signing key and a PDS
  'wrong_host', // the DID's current PDS is another host
  'rev_not_newer', // rev <= the account's last rev (replays, rollbacks)
  'rev_in_future', // rev more than futureRevToleranceMs ahead of our clock
  'bad_commit', // unreadable CAR, root/commit mismatch, commit DID or rev differs from the event
  'bad_signature', // commit not signed by the DID's current atproto key
  'chain_break', // `since` (or prevData) does not continue the account's last commit: resynced
  'bad_inversion', // sync v1.1 inversion failed or record blocks missing (strict: dropped + resync; lenient: counted, relayed)
  'inactive_account', // #commit for an account whose host said it is not active
] as const

export type DropReason = (typeof DROP_REASONS)[number]

export type HostCounters = {
  eventsRelayed: number
  dropped: Record<DropReason, number>
}

export const emptyCounters = (): HostCounters => ({
  eventsRelayed: 0,
  dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
})

/** Counters read back from the host table (unknown reasons ignored, missing ones zero). */
export const parseCounters = (json: string | null): HostCounters => {
  const c = emptyCounters()
  if (!json) return c
  try {
    const v = JSON.parse(json) as Partial<HostCounters>
    if (typeof v.eventsRelayed === 'number') c.eventsRelayed = v.eventsRelayed
    for (const r of DROP_REASONS) {
      const n = v.dropped?.[r]
      if (typeof n === 'number') c.dropped[r] = n
    }
  } catch {
    // counters are informational: start again from zero
  }
  return c
}
