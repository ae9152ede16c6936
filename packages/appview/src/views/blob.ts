import { getBlobCid, type BlobRef } from '@atproto/lex-data'

/** A blob's CID as a string (typed and legacy blob refs alike). */
export const blobCid = (blob: BlobRef): string => getBlobCid(blob).toString()

export const blobCidOf = (blob: BlobRef | undefined): string | undefined => (blob ? blobCid(blob) : undefined)
