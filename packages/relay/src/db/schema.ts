// The relay's state database (`<data>/relay.sqlite`). The event log lives in
// its own file (common EventLog, `<data>/events.sqlite`).

/** An upstream host (PDS) the relay subscribes to. */
export type HostRow = {
  hostname: string // normalised: lower-case host[:port], no scheme
  banned: number // 0/1
  cursor: number // last upstream seq fully processed
  rateLimit: number | null // events/s; null = config default
  counters: string | null // JSON { eventsRelayed, dropped } carried across restarts
  createdAt: string
}

/** Per-account sync state. No record data is kept. */
export type AccountRow = {
  did: string
  host: string // hostname of the account's current PDS, as last verified
  head: string | null // commit CID
  rev: string | null
  data: string | null // MST root CID of `head`
  active: number // 0/1
  status: string | null // upstream status when inactive (deactivated, takendown, ...)
  desynchronized: number // 0/1: chain broken, resync pending or failed
  updatedAt: string
}

/** An account with records in a collection (listReposByCollection). */
export type RepoCollectionRow = {
  collection: string
  did: string
}

/** One row (id 1): the log seq the rest of this database was last persisted with. */
export type RelayStateRow = { id: number; logSeq: number }

export type RelayDbSchema = {
  relay_state: RelayStateRow
  host: HostRow
  account: AccountRow
  repo_collection: RepoCollectionRow
}
