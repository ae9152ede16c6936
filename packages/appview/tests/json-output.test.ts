/**
 * The app view's JSON answers are serialized in one pass (api/json-output.ts)
 * rather than by xrpc-server's lexToJson + res.json: the bytes must be the
 * same for every kind of value a view can hold.
 */
import { lexToJson } from '@atproto/lexicon'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { lexJsonBytes } from '../src/api/json-output.ts'

const cidOf = async (s: string) => CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(s)))

test('CIDs, bytes, blob refs, nesting and undefined serialize exactly as lexToJson + JSON.stringify', async () => {
  const cid = await cidOf('a')
  const samples: unknown[] = [
    { uri: 'at://did:plc:x/app.bsky.feed.post/1', cid: cid.toString(), likeCount: 3, viewer: {}, labels: [] },
    { record: { $type: 'app.bsky.feed.post', text: 'héllo "quoted" \\ \n', embed: { $type: 'app.bsky.embed.images', images: [{ alt: '', image: { $type: 'blob', ref: cid, mimeType: 'image/png', size: 1 } }] } } },
    { link: cid, nested: [[cid, { deeper: cid }], null, 0, false, ''], bytes: new Uint8Array([1, 2, 3, 4, 5]), empty: new Uint8Array(0) },
    { skipped: undefined, kept: 'x', arr: [1, 'two', { three: 3 }] },
    { slash: { '/': 'not a cid' }, dollar: { $link: 'already json' } },
    [cid, new Uint8Array([255, 254])],
  ]
  for (const s of samples) {
    expect(lexJsonBytes(s).toString('utf8')).toBe(JSON.stringify(lexToJson(s as never)))
  }
})
