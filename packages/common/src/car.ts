// CARv1 writing, synchronously into whole buffers (firehose events, getRepo,
// resync): no per-block stream writes. CIDs are taken as their bytes, so any
// CID type (multiformats, @atproto/lex-data, raw byte views) works.

type CidLike = { bytes: Uint8Array }

export const varint = (n: number): Buffer => {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Buffer.from(out)
}

/**
 * The DAG-CBOR header `{roots: [root], version: 1}` (canonical key order),
 * without its length prefix: the exact bytes every conforming writer
 * produces, so readers may compare against it.
 */
export const carHeaderBody = (root: CidLike): Buffer => {
  const len = root.bytes.length + 1 // tag-42 bytes start with the 0x00 multibase prefix
  return Buffer.concat([
    Buffer.from([0xa2, 0x65, 0x72, 0x6f, 0x6f, 0x74, 0x73, 0x81, 0xd8, 0x2a]), // map(2) "roots" array(1) tag(42)
    Buffer.from(len < 24 ? [0x40 + len] : [0x58, len]),
    Buffer.from([0]),
    root.bytes,
    Buffer.from([0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x01]), // "version" 1
  ])
}

/** The CAR header section: length prefix and header. */
export const carHeader = (root: CidLike): Buffer => {
  const body = carHeaderBody(root)
  return Buffer.concat([varint(body.length), body])
}

/** Appends one block section (varint length, CID bytes, block bytes) to `parts`. */
export const pushCarBlock = (parts: Uint8Array[], cidBytes: Uint8Array, bytes: Uint8Array): void => {
  parts.push(varint(cidBytes.length + bytes.length), cidBytes, bytes)
}

/** A whole CARv1 with one root; blocks in the order given, a repeated CID written once. */
export const encodeCar = (root: CidLike, blocks: Iterable<readonly [CidLike, Uint8Array]>): Uint8Array => {
  const parts: Uint8Array[] = [carHeader(root)]
  const seen = new Set<string>()
  for (const [cid, bytes] of blocks) {
    const key = Buffer.from(cid.bytes).toString('latin1')
    if (seen.has(key)) continue
    seen.add(key)
    pushCarBlock(parts, cid.bytes, bytes)
  }
  return Buffer.concat(parts)
}
