import { isValidDid, type DidString } from '@atproto/syntax'

/**
 * A DID this server made or stored, as the lexicons' `did` format. DIDs are
 * checked before anything is stored under them, so a failure here is a
 * corrupt database or a programming error (a 500), never a client's mistake.
 */
export const checkedDid = (did: string): DidString => {
  if (!isValidDid(did)) throw new Error(`stored DID is not a DID: ${JSON.stringify(did.slice(0, 100))}`)
  return did
}
