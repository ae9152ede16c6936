import { getBlobCid } from '@atproto/lex-data'
import { app } from '@atsuite/lexicon'
import { RecordRefusal, definePlugin, sortAtFor } from '../plugin.ts'

/** app.bsky.feed.generator: a custom feed served by the generator DID it names. */
export const feedGeneratorPlugin = definePlugin<app.bsky.feed.generator.Main>({
  collection: 'app.bsky.feed.generator',
  parse(value) {
    const res = app.bsky.feed.generator.main.safeValidate(value)
    if (!res.success) throw new RecordRefusal('invalid_record', res.reason.message)
    return res.value
  },
  insert(w, r) {
    const g = r.record
    const inserted = w.run(
      `INSERT INTO feed_generator (uri, cid, creator, feedDid, displayName, description, avatarCid, createdAt, indexedAt, sortAt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uri) DO NOTHING`,
      r.uri,
      r.cid,
      r.did,
      g.did,
      g.displayName,
      g.description ?? null,
      g.avatar ? getBlobCid(g.avatar).toString() : null,
      g.createdAt,
      r.indexedAt,
      sortAtFor(g.createdAt, r.indexedAt),
    )
    if (inserted) w.bumpActorAgg(r.did, 'feedgensCount', 1)
  },
  delete(w, uri, did) {
    if (w.run('DELETE FROM feed_generator WHERE uri = ?', uri) > 0) w.bumpActorAgg(did, 'feedgensCount', -1)
  },
})
