import type { DatetimeString, DidString, HandleString } from '@atproto/syntax'

/** One row per account the app view has seen: identity, hosting status, and how far its repo is indexed. */
export interface ActorTable {
  did: DidString
  /** the handle, only when verified both ways; null = invalid or not yet resolved */
  handle: HandleString | null
  /** PDS endpoint from the DID document (repo fetches, images) */
  pdsEndpoint: string | null
  /** atproto signing key (did:key) from the DID document, for repo verification */
  signingKey: string | null
  /** null = active; else the upstream status (deactivated, takendown, suspended, deleted, …) */
  status: string | null
  /** rev, commit CID and MST root of the last indexed commit */
  rev: string | null
  commitCid: string | null
  dataCid: string | null
  /** set once the repo has been indexed from its beginning (a genesis commit or a full fetch) */
  backfilledAt: DatetimeString | null
  identityRefreshedAt: DatetimeString | null
  indexedAt: DatetimeString
}
